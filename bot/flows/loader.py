"""Load flows.yaml and intents/ into spec models, or fail with `file:line: what to fix`.

YAML is read with ruamel.yaml, whose nodes remember their line, so every schema error and
every broken cross-reference points at the line to change.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from bot.errors import ExprError, PatternError, SpecError, SpecProblem
from bot.flows.answers.reading import normalize_text
from bot.flows.calls import CallText, header_problem, url_problem, webhook_problem
from bot.flows.expr import Expr
from bot.flows.expr import Template as TextTemplate
from bot.flows.matching import flatten_words
from bot.flows.patterns import compile_pattern
from bot.flows.spec import (
    MEDIA_HEADERS,
    FlowsFile,
    FlowSpec,
    IntentSpec,
    Localized,
    StateSpec,
    TemplateEntry,
    TemplateSpec,
)
from bot.model import is_valid_id
from bot.phones import customer_id


@dataclass(frozen=True)
class Catalog:
    """Everything an author wrote, validated: flows and intents by code."""

    flows: FlowsFile
    intents: dict[str, IntentSpec]
    flows_path: str
    # The ruamel.yaml tree of flows.yaml, for `line_of` in later checks (bot.flows.tools.lint).
    flows_root: Any = field(default=None, compare=False, repr=False)


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def line_of(root: Any, path: Iterable[Any]) -> int:
    """1-based line of the deepest node on `path` that exists in the YAML tree."""
    node, line = root, 1
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        elif isinstance(key, str) and not isinstance(node, CommentedMap | CommentedSeq):
            break
    return line


def _read_yaml(path: Path) -> tuple[Any, list[SpecProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [SpecProblem(str(path), 0, "file not found")]
    except (OSError, UnicodeDecodeError) as e:
        return None, [SpecProblem(str(path), 0, f"cannot read the file: {e}")]
    try:
        return YAML(typ="rt").load(text), []
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = (e.problem or e.context or "invalid YAML").strip()
        body = text.rstrip()
        if mark is not None and e.problem and mark.index >= len(body):
            # Found at the end of the file, past its last line: the cause is what was left
            # open (a quote, a bracket), where the context mark points when it can.
            last = body.count("\n")
            ctx = e.context_mark
            line = (ctx.line if ctx is not None and ctx.line <= last else last) + 1
            if e.context:
                what = f"{what} {e.context.strip()}"
        if "duplicate key" in str(e):
            what += "; each key may appear once in a mapping: remove or rename the repeat"
        return None, [SpecProblem(str(path), line, f"YAML syntax: {what}")]


def _authored_path(root: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` without the member type names unions add (`str`, `dict[str,str]`), unless the
    YAML has a key of that name there."""
    path: list[Any] = []
    node = root
    for part in loc:
        in_yaml = (isinstance(node, CommentedMap) and part in node) or (
            isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node)
        )
        if in_yaml:
            node = node[part]
        elif isinstance(part, str) and (part == "str" or "[" in part):
            continue
        else:
            node = None
        path.append(part)
    return tuple(path)


def _schema_problems(file: str, root: Any, error: ValidationError) -> list[SpecProblem]:
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        path = _authored_path(root, loc)
        where = ".".join(str(p) for p in path) or "the top level"
        if err["type"] == "extra_forbidden":
            msg = f"unknown field `{path[-1]}` at {where}: remove it or fix its spelling"
        elif err["type"] == "missing":
            msg = f"missing required field `{path[-1]}` at {where}"
        else:
            msg = f"{where}: {err['msg']}"
        problems.append(SpecProblem(file, line_of(root, path), msg))
    # One location often yields one error per union member: keep the first per line+message.
    return list(dict.fromkeys(problems))


def _suggest(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return f"{hint} Known: {', '.join(known)}."


def _check_flow(file: str, root: Any, name: str, flow: FlowSpec) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    base = ("flows", name)
    states = flow.states
    if flow.start not in states:
        problems.append(
            SpecProblem(
                file,
                line_of(root, (*base, "start")),
                f"flow `{name}` starts at `{flow.start}`, which is not one of its states."
                + _suggest(flow.start, states),
            )
        )
    for sname, state in states.items():
        spath = (*base, "states", sname)
        seen_words: dict[str, int] = {}
        seen_payloads: dict[str, int] = {}
        for i, option in enumerate(state.options):
            opath = (*spath, "options", i)
            number = i + 1
            if option.go not in states:
                problems.append(
                    SpecProblem(
                        file,
                        line_of(root, (*opath, "go")),
                        f"option {number} of state `{sname}` goes to `{option.go}`, which is not "
                        f"a state of flow `{name}`: add it under flows.{name}.states or fix the "
                        "name." + _suggest(option.go, states),
                    )
                )
            words = [normalize_text(w) for w in flatten_words(option.label, option.keywords)]
            for word in dict.fromkeys(words):
                if not word:
                    continue
                if word.isdigit():
                    problems.append(
                        SpecProblem(
                            file,
                            line_of(root, opath),
                            f"option {number} of state `{sname}` uses the number `{word}` as a "
                            "label or keyword; numbers choose options by position: use words.",
                        )
                    )
                elif word in seen_words:
                    problems.append(
                        SpecProblem(
                            file,
                            line_of(root, opath),
                            f"option {number} of state `{sname}` repeats `{word}`, already used by "
                            f"option {seen_words[word]}: a reply must choose one option only.",
                        )
                    )
                else:
                    seen_words[word] = number
            payload = option.payload or f"{name}.{sname}.{number}"
            if payload in seen_payloads:
                problems.append(
                    SpecProblem(
                        file,
                        line_of(root, (*opath, "payload")),
                        f"option {number} of state `{sname}` has the payload `{payload}` of "
                        f"option {seen_payloads[payload]}: payloads must differ within a state.",
                    )
                )
            seen_payloads[payload] = number
        for where, target in _targets(state):
            if target not in states:
                problems.append(
                    SpecProblem(
                        file,
                        line_of(root, (*spath, *where)),
                        f"{_describe(where)} of state `{sname}` goes to `{target}`, "
                        f"which is not a state of flow `{name}`." + _suggest(target, states),
                    )
                )
        for where, source, kind in _sources(state):
            what = None
            try:
                if kind == "expr":
                    names = Expr.parse(source).names
                elif kind == "text":
                    names = TextTemplate.parse(source).names
                else:
                    compile_pattern(source, ignore_case=True)
                    names = frozenset()
            except (ExprError, PatternError) as e:
                what = e.message if isinstance(e, ExprError) else str(e)
            else:
                if "secret" in names and where[:2] not in (("call", "url"), ("call", "headers")):
                    what = _ONLY_IN_CALLS
            if what is not None:
                problems.append(
                    SpecProblem(
                        file,
                        line_of(root, (*spath, *where)),
                        f"`{'.'.join(map(str, where))}` of state `{sname}`: {what}",
                    )
                )
        if state.call is not None:
            problems += _check_call(file, root, spath, sname, state)
        if state.handoff is not None and state.handoff.webhook is not None:
            problem = webhook_problem(state.handoff.webhook)
            if problem is not None:
                line = line_of(root, (*spath, "handoff", "webhook"))
                problems.append(SpecProblem(file, line, f"state `{sname}`: {problem}"))
        if state.buttons and not state.options:
            problems.append(
                SpecProblem(
                    file,
                    line_of(root, (*spath, "buttons")),
                    f"state `{sname}` asks for buttons but has no options: add `options:` or "
                    "remove `buttons: true`.",
                )
            )
    return problems


_ONLY_IN_CALLS = (
    "reads a secret: `{{ secret.NAME }}` goes only in the url and headers of a `call:` (and "
    "in defaults.agent.headers), as a placeholder of its own; secrets never go into messages, "
    "conditions, slots or bodies"
)


def _call_text_problem(
    source: str, check: Callable[[CallText], str | None], *, reported: bool
) -> str | None:
    """What is wrong with a call's url or header value, by `check`; None when nothing is, or
    when its placeholders do not parse and that is `reported` with the state's texts."""
    if reported:
        try:
            TextTemplate.parse(source)
        except ExprError:
            return None
    try:
        return check(CallText.parse(source))
    except ExprError as e:
        return e.message


def _check_call(
    file: str, root: Any, spath: tuple[Any, ...], sname: str, state: StateSpec
) -> list[SpecProblem]:
    """A call's url and headers: secrets only as `{{ secret.NAME }}`, no data in the url's
    scheme or host, header names and values that can be sent (bot.flows.calls)."""
    assert state.call is not None
    problems: list[SpecProblem] = []
    problem = _call_text_problem(state.call.url, url_problem, reported=True)
    if problem is not None:
        line = line_of(root, (*spath, "call", "url"))
        problems.append(SpecProblem(file, line, f"`call.url` of state `{sname}`: {problem}"))
    where = (*spath, "call", "headers")
    problems += _check_headers(file, root, where, state.call.headers, reported=True)
    return problems


def _check_headers(
    file: str, root: Any, where: tuple[Any, ...], headers: dict[str, str], *, reported: bool
) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for name, value in headers.items():
        problem = _call_text_problem(
            value, functools.partial(header_problem, name), reported=reported
        )
        if problem is not None:
            shown = ".".join(map(str, where[-2:]))
            problems.append(
                SpecProblem(file, line_of(root, (*where, name)), f"`{shown}.{name}`: {problem}")
            )
    return problems


def _describe(where: tuple[Any, ...]) -> str:
    """How an author would name a reference: `event X`, `route 2`, `call.success`."""
    if where[0] == "on":
        return f"event `{where[1]}`"
    if where[0] == "routes":
        return f"route {where[1] + 1}"
    return "`" + ".".join(map(str, where)) + "`"


def _targets(state: StateSpec) -> list[tuple[tuple[Any, ...], str]]:
    """Every state name a state refers to, with the YAML path of the reference."""
    found: list[tuple[tuple[Any, ...], str | None]] = [
        (("escalate",), state.escalate),
        (("on_failed",), state.on_failed),
    ]
    # Options' `go:` are checked with the options (their message names the option number).
    found += [(("routes", i, "go"), r.go) for i, r in enumerate(state.routes)]
    found += [(("on", event), target) for event, target in state.on.items()]
    if state.collect is not None:
        found += [
            (("collect", "go"), state.collect.go),
            (("collect", "escalate"), state.collect.escalate),
        ]
    if state.call is not None:
        c = state.call
        found += [(("call", "success"), c.success), (("call", "failure"), c.failure),
                  (("call", "on_timeout"), c.on_timeout)]  # fmt: skip
    if state.otp is not None:
        o = state.otp
        found += [(("otp", k), getattr(o, k)) for k in ("verified", "wrong", "expired")]
    if state.handoff is not None:
        found += [(("handoff", "resume"), state.handoff.resume),
                  (("handoff", "on_timeout"), state.handoff.on_timeout)]  # fmt: skip
    if state.timeout is not None:
        found.append((("timeout", "go"), state.timeout.go))
    return [(where, target) for where, target in found if target is not None]


def _localized(
    where: tuple[Any, ...], value: Localized | None
) -> list[tuple[tuple[Any, ...], str]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [(where, value)]
    return [((*where, lang), text) for lang, text in value.items()]


def _body_strings(where: tuple[Any, ...], value: Any) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _body_strings((*where, k), v)]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _body_strings((*where, i), v)]
    return []


def state_templates(state: StateSpec) -> list[tuple[tuple[Any, ...], TemplateSpec]]:
    """The templates a state may send, with their YAML paths under the state."""
    found: list[tuple[tuple[Any, ...], TemplateSpec | None]] = [(("template",), state.template)]
    if state.otp is not None:
        found.append((("otp", "template"), state.otp.template))
    found += [(("remind", i, "template"), r.template) for i, r in enumerate(state.remind)]
    return [(where, t) for where, t in found if t is not None]


def _flow_languages(flow: FlowSpec, default: str) -> set[str]:
    """The languages a flow's texts are written in (and the default): what a template it
    sends without a `language:` goes in, the conversation's."""
    spoken = {default}
    for state in flow.states.values():
        for value in (state.say, state.reprompt, *(r.say for r in state.remind)):
            if isinstance(value, dict):
                spoken.update(value)
    return spoken


def _check_templates(file: str, root: Any, spec: FlowsFile) -> list[SpecProblem]:
    """With a `templates:` catalogue, every template a flow sends is in it, in the
    languages it goes in, with exactly the parameters it has (its URL buttons' too), and
    with a `header:` URL when, and only when, its header is an image, video or document.
    Without one, no template has a `header:` (what kind of media it is, the catalogue
    says)."""
    catalogue = spec.templates
    problems = []
    default = spec.defaults.language
    for name, flow in spec.flows.items():
        spoken = _flow_languages(flow, default)
        for sname, state in flow.states.items():
            for where, t in state_templates(state):
                path = ("flows", name, "states", sname, *where)
                entry = catalogue.get(t.code)
                if entry is None and t.header is not None:
                    problems.append(SpecProblem(
                        file, line_of(root, (*path, "header")),
                        f"template `{t.code}` has a `header:`, but `templates:` does not list "
                        "it: list it there with its `header:` (image, video or document), "
                        "which says what the URL is." + (_suggest(t.code, catalogue)
                                                         if catalogue else ""),
                    ))  # fmt: skip
                if not catalogue:
                    continue
                if entry is None:
                    if t.header is None:
                        problems.append(SpecProblem(
                            file, line_of(root, (*path, "code")),
                            f"template `{t.code}` is not in `templates:`, the account's "
                            "approved templates." + _suggest(t.code, catalogue),
                        ))  # fmt: skip
                    continue
                problems += _check_header(file, root, path, t, entry)
                wanted = {t.language} if t.language else spoken
                lacking = sorted(
                    lang for lang in wanted
                    if lang not in entry.languages and lang.split("_")[0] not in entry.languages
                )  # fmt: skip
                if lacking:
                    said = "its `language:`" if t.language else "the flow's languages"
                    problems.append(SpecProblem(
                        file, line_of(root, (*path, "language" if t.language else "code")),
                        f"template `{t.code}` is approved in {', '.join(entry.languages)}, "
                        f"not in {', '.join(lacking)} ({said}): a customer of that language "
                        "would get nothing (CAMS refuses the send)",
                    ))  # fmt: skip
                declared = [*entry.params, *entry.button_params]
                extra = sorted(set(t.params) - set(declared))
                missing = sorted(set(declared) - set(t.params))
                if extra or missing:
                    what = []
                    if extra:
                        what.append(f"has no parameter {', '.join(extra)}")
                    if missing:
                        what.append(f"needs {', '.join(missing)}")
                    its = f"its parameters: {', '.join(entry.params) or 'none'}"
                    if entry.button_params:
                        its += f"; of its URL buttons: {', '.join(entry.button_params)}"
                    problems.append(SpecProblem(
                        file, line_of(root, (*path, "params")),
                        f"template `{t.code}` {' and '.join(what)} ({its})",
                    ))  # fmt: skip
    return problems


def _check_numbers(file: str, root: Any, spec: FlowsFile) -> list[SpecProblem]:
    """Each business number reads as one on its channel, is listed once, starts a flow that
    exists."""
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for name, entry in spec.numbers.items():
        path = ("numbers", name)
        try:
            business = customer_id(entry.number, entry.channel)
        except ValueError as e:
            problems.append(SpecProblem(
                file, line_of(root, (*path, "number")),
                f"numbers.{name}: `{entry.number}` is not a {entry.channel} number: {e}",
            ))  # fmt: skip
        else:
            if not is_valid_id(business):
                problems.append(SpecProblem(
                    file, line_of(root, (*path, "number")),
                    f"numbers.{name}: `{entry.number}` is not a {entry.channel} id: letters, "
                    "digits and _ . @ - only, at most 64 (it names its conversations)",
                ))  # fmt: skip
            elif (other := seen.setdefault((entry.channel, business), name)) != name:
                problems.append(SpecProblem(
                    file, line_of(root, (*path, "number")),
                    f"numbers.{name}: {entry.channel} number {business} is already "
                    f"numbers.{other}: a number has one entry",
                ))  # fmt: skip
        flow = entry.inbound_flow
        if flow is not None and flow not in spec.flows:
            problems.append(SpecProblem(
                file, line_of(root, (*path, "inbound_flow")),
                f"numbers.{name}.inbound_flow names `{flow}`, which is not a flow."
                + _suggest(flow, spec.flows),
            ))  # fmt: skip
    return problems


def _check_header(
    file: str, root: Any, path: tuple[Any, ...], t: TemplateSpec, entry: TemplateEntry
) -> list[SpecProblem]:
    """A send's `header:` against its template's header: a URL for an image, video or
    document, nothing for another."""
    if t.header is not None and entry.header not in MEDIA_HEADERS:
        return [SpecProblem(
            file, line_of(root, (*path, "header")),
            f"template `{t.code}` has no media header (`templates:` says its header is "
            f"{entry.header}): remove `header:`; only an image, video or document header "
            "takes a URL",
        )]  # fmt: skip
    if t.header is None and entry.header in MEDIA_HEADERS:
        return [SpecProblem(
            file, line_of(root, (*path, "code")),
            f"template `{t.code}` has {_A[entry.header]} header (`templates:`): give its URL "
            f"with `header: \"https://HOST/...\"` (it goes as `{entry.header_param}`)",
        )]  # fmt: skip
    return []


_A = {"image": "an image", "video": "a video", "document": "a document"}


def _template_sources(
    where: tuple[Any, ...], t: TemplateSpec | None
) -> list[tuple[tuple[Any, ...], str]]:
    if t is None:
        return []
    found = [((*where, "params", k), v) for k, v in t.params.items()]
    if t.header is not None:
        found.append(((*where, "header"), t.header))
    return found


def _sent_sources(state: StateSpec) -> list[tuple[tuple[Any, ...], str]]:
    """The texts with placeholders of what a state sends besides its text: a photo's URL and
    name, a pin's values, a link's label and URL."""
    found: list[tuple[tuple[Any, ...], str | None]] = []
    if state.media is not None:
        found += [(("media", "url"), state.media.url),
                  (("media", "filename"), state.media.filename)]  # fmt: skip
    if (pin := state.location) is not None:
        found += [(("location", k), getattr(pin, k))
                  for k in ("latitude", "longitude", "name", "address")]  # fmt: skip
    texts = [(where, text) for where, text in found if text is not None]
    if state.link is not None:
        texts += _localized(("link", "label"), state.link.label)
        texts.append((("link", "url"), state.link.url))
    return texts


def _sources(state: StateSpec) -> list[tuple[tuple[Any, ...], str, str]]:
    """Every expression (`expr`), text with placeholders (`text`) and regular expression
    (`regex`) of a state, with its YAML path."""
    texts = _localized(("say",), state.say) + _localized(("reprompt",), state.reprompt)
    texts += _template_sources(("template",), state.template) + _sent_sources(state)
    exprs: list[tuple[tuple[Any, ...], str]] = [(("set", k), v) for k, v in state.set.items()]
    regexes: list[tuple[tuple[Any, ...], str]] = []
    for i, o in enumerate(state.options):
        texts += _localized(("options", i, "label"), o.label)
        for key in ("description", "section"):
            if getattr(o, key) is not None:
                texts += _localized(("options", i, key), getattr(o, key))
        exprs += [(("options", i, "set", k), v) for k, v in o.set.items()]
        if o.when:
            exprs.append((("options", i, "when"), o.when))
        regexes += [(("options", i, "patterns", j), p) for j, p in enumerate(o.patterns)]
    for i, r in enumerate(state.routes):
        if r.when:
            exprs.append((("routes", i, "when"), r.when))
        exprs += [(("routes", i, "set", k), v) for k, v in r.set.items()]
    if state.collect is not None:
        texts += _localized(("collect", "invalid"), state.collect.invalid)
    if state.call is not None:
        texts.append((("call", "url"), state.call.url))
        texts += [(("call", "headers", k), v) for k, v in state.call.headers.items()]
        texts += _body_strings(("call", "json"), state.call.json_body)
    if state.otp is not None:
        texts += _template_sources(("otp", "template"), state.otp.template)
    if state.fallback is not None:
        texts += _localized(("fallback", "content"), state.fallback.content)
    for i, reminder in enumerate(state.remind):
        texts += _localized(("remind", i, "say"), reminder.say)
        texts += _template_sources(("remind", i, "template"), reminder.template)
    return (
        [(w, s, "text") for w, s in texts]
        + [(w, s, "expr") for w, s in exprs]
        + [(w, s, "regex") for w, s in regexes]
    )


def state_sources(state: StateSpec) -> list[tuple[tuple[Any, ...], str, str]]:
    """Every expression, text and regular expression of a state, with its YAML path under the
    state and its kind (`expr`, `text`, `regex`): what `bot.flows.tools.lint` reads names from."""
    return _sources(state)


def load_flows(path: Path) -> tuple[FlowsFile | None, Any, list[SpecProblem]]:
    file = str(path)
    root, problems = _read_yaml(path)
    if problems:
        return None, None, problems
    if not isinstance(root, CommentedMap):
        return None, None, [SpecProblem(file, 1, "expected a mapping with a `flows:` key")]
    try:
        spec = FlowsFile.model_validate(_plain(root))
    except ValidationError as e:
        return None, root, _schema_problems(file, root, e)
    problems = []
    for name, flow in spec.flows.items():
        problems += _check_flow(file, root, name, flow)
        for old, target in flow.migrations.items():
            if target not in flow.states:
                problems.append(
                    SpecProblem(
                        file,
                        line_of(root, ("flows", name, "migrations", old)),
                        f"migration of `{old}` goes to `{target}`, which is not a state of flow "
                        f"`{name}`." + _suggest(target, flow.states),
                    )
                )
    problems += _check_templates(file, root, spec)
    problems += _check_numbers(file, root, spec)
    problems += _check_headers(
        file, root, ("defaults", "agent", "headers"), spec.defaults.agent.headers, reported=False
    )
    webhook = spec.defaults.agent.webhook
    if webhook is not None and (problem := webhook_problem(webhook)) is not None:
        line = line_of(root, ("defaults", "agent", "webhook"))
        problems.append(SpecProblem(file, line, f"defaults.agent: {problem}"))
    inbound = spec.defaults.inbound_flow
    if inbound is not None and inbound not in spec.flows:
        problems.append(
            SpecProblem(
                file,
                line_of(root, ("defaults", "inbound_flow")),
                f"defaults.inbound_flow names `{inbound}`, which is not a flow."
                + _suggest(inbound, spec.flows),
            )
        )
    return spec, root, problems


def load_intents(
    folder: Path, flows: FlowsFile | None
) -> tuple[dict[str, IntentSpec], list[SpecProblem]]:
    problems: list[SpecProblem] = []
    intents: dict[str, IntentSpec] = {}
    where: dict[str, str] = {}
    if not folder.exists():
        return {}, []  # no intents folder: no intents (a project may have none)
    if not folder.is_dir():
        return {}, [SpecProblem(str(folder), 0, "intents: expected a folder of intent files")]
    events = set()
    if flows is not None:
        events = {e for f in flows.flows.values() for s in f.states.values() for e in s.on}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        file = str(path)
        root, errs = _read_yaml(path)
        if errs:
            problems += errs
            continue
        if not isinstance(root, CommentedMap):
            problems.append(SpecProblem(file, 1, "expected a mapping with `code:` and `name:`"))
            continue
        try:
            intent = IntentSpec.model_validate(_plain(root))
        except ValidationError as e:
            problems += _schema_problems(file, root, e)
            continue
        if intent.code in intents:
            problems.append(
                SpecProblem(
                    file,
                    line_of(root, ("code",)),
                    f"intent code `{intent.code}` is already defined in {where[intent.code]}: "
                    "intent codes must be unique.",
                )
            )
            continue
        if flows is not None and intent.start is not None and intent.start not in flows.flows:
            problems.append(
                SpecProblem(
                    file,
                    line_of(root, ("start",)),
                    f"intent `{intent.code}` starts flow `{intent.start}`, which is not in "
                    "flows.yaml." + _suggest(intent.start, flows.flows),
                )
            )
        if flows is not None and intent.event is not None and intent.event not in events:
            problems.append(
                SpecProblem(
                    file,
                    line_of(root, ("event",)),
                    f"intent `{intent.code}` sends event `{intent.event}`, which no state handles: "
                    "add it under `on:` in a state."
                    + (_suggest(intent.event, events) if events else ""),
                )
            )
        if flows is not None and intent.number is not None and intent.number not in flows.numbers:
            problems.append(
                SpecProblem(
                    file,
                    line_of(root, ("number",)),
                    f"intent `{intent.code}` sends from number `{intent.number}`, which is not "
                    "in `numbers:` of flows.yaml." + _suggest(intent.number, flows.numbers),
                )
            )
        intents[intent.code] = intent
        where[intent.code] = file
    return intents, problems


def load_catalog(flows_path: Path, intents_path: Path) -> Catalog:
    """Load and cross-check everything; raise SpecError listing every problem found."""
    flows, root, problems = load_flows(flows_path)
    intents, intent_problems = load_intents(intents_path, flows)
    problems += intent_problems
    if problems or flows is None:
        raise SpecError(problems)
    return Catalog(flows=flows, intents=intents, flows_path=str(flows_path), flows_root=root)
