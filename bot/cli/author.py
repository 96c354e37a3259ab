"""The flow authors' commands, all offline: `bot check`, `bot graph`, `bot test`, `bot init`,
and the references `bot settings` and `bot schema`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot.cli.sources import compiled_catalog, flow_sources
from bot.errors import SpecError
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.settings import call_secrets


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_check(args: argparse.Namespace) -> int:
    from bot.flows.loader import Catalog, load_flows
    from bot.flows.tools.lint import lint, lint_against

    flows, intents = flow_sources(args)
    source = load_catalog(flows, intents)
    catalog = compile_catalog(source)
    findings = lint(source)
    if args.against:
        old, root, problems = load_flows(Path(args.against))
        if problems or old is None:
            raise SpecError(problems)
        findings += lint_against(Catalog(old, {}, args.against, flows_root=root), source)
    for finding in findings:
        print(finding)
    unset = _list_secrets(flows, catalog)
    states = sum(len(f.states) for f in catalog.flows.values())
    counts = f"{len(catalog.flows)} flows, {states} states; {len(catalog.intents)} intents"
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if errors or (args.strict and (warnings or unset)):
        print(f"{flows}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}: {counts}")
        return 1
    print(f"{flows}: ok: {counts}" + (f"; {_plural(warnings, 'warning')}" if warnings else ""))
    return 0


def _list_secrets(flows: Path, catalog: CompiledCatalog) -> int:
    """Print the secrets the flows name and whether each is set here; the number unset.
    `bot serve` refuses to start while one is unset; here it fails only `--strict`."""
    if not catalog.secrets:
        return 0
    known = call_secrets(os.environ)
    shown = [
        f"BOT_SECRET_{name} ({'set' if name in known else 'not set'})"
        for name in sorted(catalog.secrets)
    ]
    print(f"{flows}: secrets the flows name: {', '.join(shown)}")
    return sum(name not in known for name in catalog.secrets)


def cmd_graph(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from bot.flows.tools.graph import dot, mermaid, mermaid_markdown

    flows, intents = flow_sources(args)
    source = load_catalog(flows, intents)
    catalog = compile_catalog(source)
    if args.flow is not None and args.flow not in catalog.flows:
        print(
            f"bot graph: {flows} has no flow `{args.flow}`; its flows: " + ", ".join(catalog.flows),
            file=sys.stderr,
        )
        return 2
    chosen = [catalog.flows[args.flow]] if args.flow else list(catalog.flows.values())
    if args.format == "mermaid":
        about = {name: f.description for name, f in source.flows.flows.items()}
        text = mermaid(chosen[0]) if len(chosen) == 1 else mermaid_markdown(chosen, about)
        data = text.encode()
    elif args.format == "dot":
        data = dot(chosen).encode()
    else:
        exe = shutil.which("dot")
        if exe is None:
            print(
                f"bot graph: --format {args.format} needs Graphviz's `dot` command, which is not "
                "installed (e.g. `apt-get install graphviz`); --format mermaid or dot needs "
                "nothing",
                file=sys.stderr,
            )
            return 2
        # S603: the argument list is fixed and the DOT text is passed on stdin, not a shell.
        done = subprocess.run(  # noqa: S603
            [exe, f"-T{args.format}"], input=dot(chosen).encode(), capture_output=True, check=False
        )
        if done.returncode != 0:
            print(f"bot graph: dot failed: {done.stderr.decode().strip()}", file=sys.stderr)
            return 2
        data = done.stdout
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from bot.flows.tools.flowtest import run_cli

    flows, intents = flow_sources(args)
    return run_cli(
        [Path(p) for p in args.paths or ["flow_tests"]],
        compiled_catalog(flows, intents),
        sys.stdout,
        coverage=args.coverage,
        min_coverage=args.min_coverage,
        name=args.k,
        all_flows=not args.paths and not args.k,
    )


# What `bot init` writes: the starter project of bot/starter, as (where in the package, where
# in the new project). `env.example` is `.env.example` there (a package keeps no dot files).
STARTER = (
    ("flows.yaml", "flows.yaml"),
    ("intents/order_shipped.yaml", "intents/order_shipped.yaml"),
    ("flow_tests/welcome.yaml", "flow_tests/welcome.yaml"),
    ("env.example", ".env.example"),
)


def cmd_init(args: argparse.Namespace) -> int:
    """Write the starter project into DIR (made if need be); never overwrite a file."""
    from importlib.resources import files

    root = Path(args.dir)
    taken = [target for _source, target in STARTER if (root / target).exists()]
    if taken:
        print(
            f"bot init: {root} already has {', '.join(taken)}: nothing written (choose an "
            "empty folder, or move them away)",
            file=sys.stderr,
        )
        return 1
    starter = files("bot") / "starter"
    for source, target in STARTER:
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
        print(f"wrote {path}")
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {args.dir} && "
    print(
        f"next: {where}bot check && bot test; then `BOT_SANDBOX=true bot serve` and, in "
        "another terminal, `bot say hi`"
    )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from bot.settings import settings_table

    sys.stdout.write(settings_table())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from bot.flows.tools.schema import schema_text

    sys.stdout.write(schema_text())
    return 0
