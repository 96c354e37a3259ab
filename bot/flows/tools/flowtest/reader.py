"""Read flow_tests/*.yaml into tests to run, or into `file:line: what to fix` problems, as
`bot.flows.loader` reads flows.yaml.

A file is read with ruamel.yaml, whose nodes remember their line, then validated by the models
of `bot.flows.tools.flowtest.spec`; what the steps name (intents, flows, states) is then
checked against the catalog. Every problem names its line; a problem in a step names the test
and the step's number too. Each test becomes a `FlowTest`: its steps with their lines, its
canned answers and secrets, ready for the runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.errors import SpecError, SpecProblem
from bot.flows.compiler import CompiledCatalog

# The loader's reader and converter: the same syntax errors and plain values as flows.yaml.
from bot.flows.loader import _plain, _read_yaml, line_of
from bot.flows.tools.flowtest.spec import (
    DEFAULT_CUSTOMER,
    PROBLEM,
    AnyStep,
    Bot,
    FlowTestFile,
    FlowTestSpec,
    Resume,
    Start,
    State,
    Trigger,
    suggest,
)
from bot.flows.tools.simulate import START_MS, CannedHttp

# -- what the reader gives the runner ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One step as read: what it says (`spec`), its line, its number in the test (from 1),
    and the line of each message a `bot:` step checks."""

    spec: AnyStep
    line: int
    number: int
    check_lines: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return self.spec.key()


@dataclass(frozen=True, slots=True)
class FlowTest:
    """One test, ready to run: where it is written, and its steps."""

    file: str
    name: str
    line: int
    steps: tuple[Step, ...]
    customer: str = DEFAULT_CUSTOMER
    channel: str = "whatsapp"
    business: str = ""  # "": the simulator's default
    lang: str | None = None
    start_ms: int = START_MS
    http: tuple[CannedHttp, ...] = ()
    secrets: Mapping[str, str] = field(default_factory=dict)


# -- reading ------------------------------------------------------------------------------------


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[SpecProblem]]:
    """Test files: the files given, and the *.yaml / *.yml files under folders given."""
    files: list[Path] = []
    problems = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(SpecProblem(str(path), 0, "no such test file or folder"))
    return list(dict.fromkeys(files)), problems


def load_tests(paths: Iterable[Path], catalog: CompiledCatalog) -> list[FlowTest]:
    """Read every test file; raise SpecError listing every problem found (file:line)."""
    files, problems = discover(paths)
    tests: list[FlowTest] = []
    for path in files:
        found, file_problems = read_file(path, catalog)
        tests += found
        problems += file_problems
    if problems:
        raise SpecError(problems)
    return tests


def read_file(path: Path, catalog: CompiledCatalog) -> tuple[list[FlowTest], list[SpecProblem]]:
    """The tests of one file, and its problems (`file:line: what to fix`)."""
    file = str(path)
    root, problems = _read_yaml(path)
    if problems:
        return [], problems
    if not isinstance(root, CommentedMap) or not isinstance(root.get("tests"), CommentedSeq):
        return [], [SpecProblem(file, 1, FlowTestFile.shape)]
    try:
        spec = FlowTestFile.model_validate(_plain(root))
    except ValidationError as e:
        return [], _problems(file, root, e)
    problems = _references(file, root, spec, catalog)
    tests: list[FlowTest] = []
    names: dict[str, int] = {}
    for i, test in enumerate(spec.tests):
        line = line_of(root, ("tests", i))
        if test.name in names:
            problems.append(
                SpecProblem(
                    file,
                    line,
                    f"test `{test.name}` repeats the name of the test on line "
                    f"{names[test.name]}: names must differ within a file",
                )
            )
        names[test.name] = line
        tests.append(_runnable(file, root, i, test, spec, catalog))
    return tests, problems


def _runnable(
    file: str, root: Any, i: int, test: FlowTestSpec, spec: FlowTestFile, catalog: CompiledCatalog
) -> FlowTest:
    steps = []
    for j, step in enumerate(test.steps):
        where = ("tests", i, "steps", j)
        checks: tuple[int, ...] = ()
        if isinstance(step, Bot):
            many = isinstance(root["tests"][i]["steps"][j]["bot"], CommentedSeq)
            key = (*where, "bot")
            checks = tuple(
                line_of(root, (*key, k)) if many else line_of(root, key)
                for k in range(len(step.bot))
            )
        steps.append(Step(step, line_of(root, where), j + 1, checks))
    start_ms = START_MS if test.now is None else int(test.now.timestamp() * 1000)
    # The business number of `numbers:` the customer writes to, and its channel; none
    # named: the simulator's (the first on the test's channel).
    number = catalog.numbers.get(test.number or "")
    channel, business = (number.channel, number.business) if number else (test.channel, "")
    return FlowTest(
        file=file,
        name=test.name,
        line=line_of(root, ("tests", i)),
        steps=tuple(steps),
        customer=test.customer,
        channel=channel,
        business=business,
        lang=test.lang or None,
        start_ms=start_ms,
        http=tuple(a.canned() for a in (*test.http, *spec.http)),
        secrets=dict(spec.secrets),
    )


def _test_name(root: Any, i: int) -> str | None:
    node = root["tests"][i] if 0 <= i < len(root["tests"]) else None
    name = node.get("name") if isinstance(node, CommentedMap) else None
    return name if isinstance(name, str) else None


def _yaml_path(loc: Sequence[Any]) -> tuple[Any, ...]:
    """A pydantic location as the path of keys and indexes in the YAML: less the tag that a
    step's union adds after the step's index (the step's key, which a field names again)."""
    path = list(loc)
    for k in range(len(path) - 2):
        if path[k] == "steps" and isinstance(path[k + 1], int):
            del path[k + 2]
            break
    return tuple(path)


def _problems(file: str, root: Any, error: ValidationError) -> list[SpecProblem]:
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        path = _yaml_path(loc)
        key = (err.get("ctx") or {}).get("key")
        if key is not None:
            path = (*path, key)
        if err["type"] == PROBLEM:
            message = err["msg"]
        elif err["type"] == "missing":
            message = f"missing `{loc[-1]}`"
        else:
            where = ".".join(str(p) for p in path) or "the top level"
            message = f"{where}: {err['msg']}"
        if len(path) > 3 and path[0] == "tests" and path[2] == "steps":
            name = _test_name(root, path[1])
            message = f"test `{name}`, step {path[3] + 1}: {message}"
        problems.append(SpecProblem(file, line_of(root, path), message))
    return sorted(dict.fromkeys(problems), key=lambda p: p.line)


def _references(
    file: str, root: Any, spec: FlowTestFile, catalog: CompiledCatalog
) -> list[SpecProblem]:
    """What the steps name that the flows and intents must have: intents, flows, states."""
    states = sorted({s for f in catalog.flows.values() for s in f.states})
    problems = []
    for i, test in enumerate(spec.tests):
        if test.number is not None and test.number not in catalog.numbers:
            problems.append(SpecProblem(
                file, line_of(root, ("tests", i, "number")),
                f"test `{test.name}`: no number `{test.number}` in `numbers:` of the flows."
                + suggest(test.number, catalog.numbers),
            ))  # fmt: skip
        for j, step in enumerate(test.steps):
            where = ("tests", i, "steps", j)
            key = (*where, step.key())
            found: tuple[tuple[Any, ...], str] | None = None
            if isinstance(step, Trigger) and step.trigger not in catalog.intents:
                found = (
                    key,
                    f"no intent `{step.trigger}` in intents/."
                    + suggest(step.trigger, catalog.intents),
                )
            elif isinstance(step, Start) and step.start not in catalog.flows:
                found = (
                    key,
                    f"no flow `{step.start}` in the flows file."
                    + suggest(step.start, catalog.flows),
                )
            elif isinstance(step, Resume) and step.resume not in (None, *states):
                found = (
                    key,
                    f"no state `{step.resume}` in any flow." + suggest(str(step.resume), states),
                )
            elif isinstance(step, State):
                found = _state_problem(root, where, step, catalog, states)
            if found is not None:
                path, message = found
                message = f"test `{test.name}`, step {j + 1}: {message}"
                problems.append(SpecProblem(file, line_of(root, path), message))
    return problems


def _state_problem(
    root: Any, where: tuple[Any, ...], step: State, catalog: CompiledCatalog, states: list[str]
) -> tuple[tuple[Any, ...], str] | None:
    written = root["tests"][where[1]]["steps"][where[3]]
    inner = written["state"] if isinstance(written["state"], CommentedMap) else None
    at = (*where, "state") if inner is not None else where
    if step.flow is None:
        if step.state in states:
            return None
        return (*at, "state"), f"no state `{step.state}` in any flow." + suggest(step.state, states)
    if step.flow not in catalog.flows:
        return (*at, "flow"), f"no flow `{step.flow}`." + suggest(step.flow, catalog.flows)
    known = catalog.flows[step.flow].states
    if step.state in known:
        return None
    return (*at, "state"), f"flow `{step.flow}` has no state `{step.state}`." + suggest(
        step.state, known
    )
