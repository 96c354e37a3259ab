"""Checks beyond loading (`bot check`): what loads and runs, but will not do what the author
meant. Each finding says where (`file:line`), how bad (error or warning) and what to do.

- unreachable states, and states from which the conversation can never end (warnings);
- variables that texts and expressions read but the flow never defines (errors);
- messages that can be due outside WhatsApp's 24-hour customer-service window, where only
  an approved template goes through (errors);
- options whose words choose another option (errors); routes that can all fail (warnings);
- handoffs without an agent webhook (errors);
- a photo, file, place or contact a customer sent shown whole in a text (warnings);
- a text the bot itself may send (a default re-prompt, a command's confirmation) without a
  language the flows speak (warnings);
- `lint_against`: states removed since the flows now live, that would end the live
  conversations standing in them (errors), and removed flows (warnings).

The window rule follows the time since the customer's last message, at the latest, when a
state is entered: a customer's message (an option, a collected value, a code) resets it; a
route adds nothing; a timer (`timeout:`, a handoff's timeout, `remind:`) and a call's answer
add their delay; a flow started by an intent, an `on:` event and a failed send can come any
time. A message due at 24 hours or later needs a template. A handoff's resume counts as
customer-paced: the customer is talking with an agent until then.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import ExprError
from bot.flows.answers import MEDIA_TYPES
from bot.flows.answers.messages import LANGUAGES as REPROMPT_LANGUAGES
from bot.flows.compiler import CompiledFlow, compile_flow, option_words
from bot.flows.expr import Expr
from bot.flows.expr import Template as TextTemplate
from bot.flows.loader import Catalog, line_of, state_sources
from bot.flows.matching import find_overlaps
from bot.flows.spec import FlowSpec, StateSpec
from bot.flows.tools.graph import Edge, duration, edges
from bot.flows.triggers import Trigger

Severity = Literal["error", "warning"]

# What every text and expression can read besides the conversation's data (engine `env`).
# (`secret.NAME` is no variable: only a call's url and headers name secrets, bot.flows.calls.)
BUILTINS = frozenset({"lang", "customer", "channel", "now", "today", "message", "attempts"})
WINDOW = 24 * 3600.0  # WhatsApp's customer-service window, seconds
NEVER = float("-inf")  # the bound of a state nothing reaches
ANY_TIME = float("inf")  # the bound of a state the business can reach at any time

# Moves that a customer's message makes: the window is open when they happen.
_CUSTOMER = frozenset({"option", "collect", "escalate", "otp", "resume"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix in a flows file, or to look at."""

    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


def _suggest(name: str, known: Iterable[str]) -> str:
    ordered = sorted(known)
    close = difflib.get_close_matches(name, ordered, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return f"{hint} Known: {', '.join(ordered)}."


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


class _FlowLint:
    """The checks of one flow."""

    def __init__(self, catalog: Catalog, root: Any, name: str, spec: FlowSpec) -> None:
        self.catalog, self.root, self.name, self.spec = catalog, root, name, spec
        flows = catalog.flows
        self.flow: CompiledFlow = compile_flow(name, spec, flows.defaults.language, flows.templates)
        self.edges = edges(self.flow)
        self.findings: list[Finding] = []

    def add(self, severity: Severity, path: tuple[Any, ...], message: str) -> None:
        line = line_of(self.root, ("flows", self.name, *path))
        self.findings.append(Finding(self.catalog.flows_path, line, severity, message))

    def run(self) -> list[Finding]:
        self.paths()
        self.variables()
        self.window()
        self.languages()
        self.shown_whole()
        for sname, state in self.spec.states.items():
            self.options(sname, state)
            self.routes(sname, state)
            self.handoff(sname, state)
        return self.findings

    # -- paths ---------------------------------------------------------------------------

    def paths(self) -> None:
        states = self.spec.states
        forward: dict[str, set[str]] = {s: set() for s in states}
        backward: dict[str, set[str]] = {s: set() for s in states}
        for e in self.edges:
            forward[e.source].add(e.dest)
            backward[e.dest].add(e.source)
        reachable = _closure([self.spec.start], forward)
        ends = _closure([s for s, st in self.flow.states.items() if st.final], backward)
        for sname in states:
            if sname not in reachable:
                self.add(
                    "warning",
                    ("states", sname),
                    f"state `{sname}` cannot be reached from the start `{self.spec.start}` of "
                    f"flow `{self.name}`: lead to it with a `go:` or remove it",
                )
            elif sname not in ends:
                self.add(
                    "warning",
                    ("states", sname),
                    f"state `{sname}` of flow `{self.name}` can never reach an end: every way on "
                    "from it comes back; add a way out (a `timeout:` or an option to a state "
                    "that ends the conversation)",
                )

    # -- variables -----------------------------------------------------------------------

    def defined(self) -> set[str]:
        """Every name the flow gives a value: data, set targets, slots, intents' data."""
        names = set(BUILTINS) | set(self.spec.data)
        events = {e for st in self.spec.states.values() for e in st.on}
        for st in self.spec.states.values():
            names.update(st.set)
            for o in st.options:
                names.update(o.set)
            for r in st.routes:
                names.update(r.set)
            if st.collect is not None:
                names.add(st.collect.slot)
            if st.call is not None:
                names.update(st.call.save)
        for intent in self.catalog.intents.values():
            if intent.start == self.name or (intent.event is not None and intent.event in events):
                names.update(intent.default_data)
        return names

    def variables(self) -> None:
        defined = self.defined()
        for sname, state in self.spec.states.items():
            for where, source, kind in state_sources(state):
                try:
                    if kind == "expr":
                        read = Expr.parse(source).names
                    elif kind == "text":
                        read = TextTemplate.parse(source).names
                    else:
                        continue
                except ExprError:  # the loader reports it
                    continue
                known = set(defined)
                if where[:2] == ("collect", "invalid"):
                    known.add("error")
                if where[:1] == ("otp",):
                    known.add("otp")
                if where[:2] in (("call", "url"), ("call", "headers")):
                    known.add("secret")
                for name in sorted(read - known):
                    self.add(
                        "error",
                        ("states", sname, *where),
                        f"`{_where(where)}` of state `{sname}` reads `{name}`, which flow "
                        f"`{self.name}` never defines: give it a default under `data:`, or set "
                        "it with `set:`, `collect:` or a call's `save:`." + _suggest(name, known),
                    )

    # -- the 24-hour window --------------------------------------------------------------

    def _start(self) -> tuple[float, str]:
        codes = sorted(c for c, i in self.catalog.intents.items() if i.start == self.name)
        if codes:
            by = ", ".join(f"`{c}`" for c in codes)
            return ANY_TIME, f"the start of flow `{self.name}` by intent {by}"
        return 0.0, "the customer"

    def _step(self, e: Edge, bound: float, how: str) -> tuple[float, str]:
        """The bound and its story after taking `e` from a state whose bound is `bound`."""
        state = self.flow.states[e.source]
        if e.kind == "route" and state.collect is None:
            return bound, f"{how}, then the routes of state `{e.source}`"
        if e.kind in _CUSTOMER or e.kind == "route":
            return 0.0, "a customer's message"
        if e.kind == "event":
            event = Trigger.parse(e.trigger).arg
            codes = sorted(c for c, i in self.catalog.intents.items() if i.event == event)
            by = f" (intent {', '.join(f'`{c}`' for c in codes)})" if codes else ""
            return ANY_TIME, f"event `{event}`{by} in state `{e.source}`"
        if e.kind == "failed":
            return ANY_TIME, f"a failed send in state `{e.source}`"
        delay, what = 0.0, e.kind
        if e.kind == "timeout" and state.timeout is not None:
            delay, what = state.timeout.after, "the timeout"
        elif e.kind == "handoff_timeout" and state.handoff is not None:
            delay, what = state.handoff.timeout or 0.0, "the handoff timeout"
        elif e.kind == "call" and state.call is not None:
            delay, what = state.call.timeout, "the call's answer"
        return bound + delay, f"{what} of state `{e.source}`"

    def bounds(self) -> dict[str, tuple[float, str]]:
        """Per state: how long after the customer's last message it can be entered, at the
        latest, and how. Longest paths (Bellman-Ford); a loop of timers is `ANY_TIME`."""
        reach: dict[str, tuple[float, str]] = dict.fromkeys(self.spec.states, (NEVER, ""))
        reach[self.spec.start] = self._start()
        for _ in range(len(reach)):
            if not self._relax(reach, loop=False):
                return reach
        for _ in range(len(reach)):  # still growing: timers loop with no message between
            if not self._relax(reach, loop=True):
                break
        return reach

    def _relax(self, reach: dict[str, tuple[float, str]], *, loop: bool) -> bool:
        changed = False
        for e in self.edges:
            bound, how = reach[e.source]
            if bound == NEVER:
                continue
            new, story = self._step(e, bound, how)
            if new > reach[e.dest][0]:
                if loop:
                    new, story = ANY_TIME, f"{story}, in a loop of timers"
                reach[e.dest] = (new, story)
                changed = True
        return changed

    def window(self) -> None:
        reach = self.bounds()
        for sname, state in self.spec.states.items():
            bound, how = reach[sname]
            if bound == NEVER:
                continue
            late = "" if bound == ANY_TIME else f" ({duration(bound)} after the customer's message)"
            says = state.say is not None and state.template is None and state.otp is None
            if says and bound >= WINDOW:
                self.add(
                    "error",
                    ("states", sname),
                    f"state `{sname}` can be reached by {how}{late} outside the 24-hour window: "
                    "add `template:`",
                )
            for i, reminder in enumerate(state.remind):
                due = bound + reminder.after
                if reminder.template is None and due >= WINDOW:
                    when = (
                        f"state `{sname}` can be reached by {how}"
                        if bound == ANY_TIME
                        else f"it is due {duration(due)} after the customer's message"
                    )
                    self.add(
                        "error",
                        ("states", sname, "remind", i),
                        f"reminder {i + 1} of state `{sname}` can be sent outside the 24-hour "
                        f"window ({when}): add `template:` to it",
                    )

    # -- per state -----------------------------------------------------------------------

    def options(self, sname: str, state: StateSpec) -> None:
        words = [option_words(o, o.payload or str(i)) for i, o in enumerate(state.options)]
        try:
            overlaps = find_overlaps(words)
        except ValueError:  # a bad pattern: the loader reports it
            return
        for i, j, why in overlaps:
            self.add(
                "error",
                ("states", sname, "options", i),
                f"options {i + 1} and {j + 1} of state `{sname}` overlap: {why}; a reply must "
                f"choose one option: remove or change the word or pattern of option {i + 1}",
            )

    def routes(self, sname: str, state: StateSpec) -> None:
        if not state.routes:
            return
        for k, route in enumerate(state.routes[:-1]):
            if route.when is None:
                self.add(
                    "warning",
                    ("states", sname, "routes", k + 1),
                    f"route {k + 2} of state `{sname}` is never taken: route {k + 1} has no "
                    "`when:` and always holds; remove the routes after it or give it a `when:`",
                )
                return
        if state.routes[-1].when is not None:
            self.add(
                "warning",
                ("states", sname, "routes"),
                f"every route of state `{sname}` has a `when:`; when no route holds, the "
                f"conversation waits in `{sname}`: end `routes:` with a route without `when:`",
            )

    def languages(self) -> None:
        """A text customers read (say, reprompt, a label, invalid, a reminder) without a
        language other texts of the flow have: customers of that language get it in the
        default language (a text written without languages is taken to be in it)."""
        default = self.catalog.flows.defaults.language
        texts = [(sname, where, set(value) if isinstance(value, dict) else {default})
                 for sname, state in self.spec.states.items()
                 for where, value in _customer_texts(state)]  # fmt: skip
        spoken = set().union(*(langs for _, _, langs in texts)) if texts else set()
        if len(spoken) < 2:
            return
        for sname, where, langs in texts:
            missing = sorted(spoken - langs)
            if not missing:
                continue
            some = ", ".join(f"`{lang}`" for lang in missing)
            fallback = default if default in langs else sorted(langs)[0]
            self.add(
                "warning",
                ("states", sname, *where),
                f"state `{sname}`: `{_where(where)}` has no {some} text, though flow "
                f"`{self.name}` speaks {', '.join(f'`{x}`' for x in sorted(spoken))}: a "
                f"customer whose language is {some} gets it in `{fallback}`",
            )

    def shown_whole(self) -> None:
        """`{{ parcel }}` of a photo slot in a text a customer reads: it shows as JSON (the
        media id, the platform's URL); a field (`{{ parcel.caption }}`) is what was meant."""
        kept = {st.collect.slot: st.collect.type for st in self.spec.states.values()
                if st.collect is not None and st.collect.type in MEDIA_TYPES}  # fmt: skip
        if not kept:
            return
        for sname, state in self.spec.states.items():
            for where, value in _customer_texts(state):
                texts = value.values() if isinstance(value, dict) else [value]
                try:
                    shown = {e.source.strip() for t in texts
                             for e in TextTemplate.parse(t).expressions}  # fmt: skip
                except ExprError:  # the loader reports it
                    continue
                for slot in sorted(shown & kept.keys()):
                    fields = _FIELDS.get(kept[slot], _FIELDS["media"])
                    self.add(
                        "warning",
                        ("states", sname, *where),
                        f"state `{sname}`: `{_where(where)}` shows the {kept[slot]} slot "
                        f"`{slot}` whole, which a customer reads as JSON: show one of its "
                        f"fields, such as {' or '.join(f'`{{{{ {slot}.{f} }}}}`' for f in fields)}",
                    )

    def handoff(self, sname: str, state: StateSpec) -> None:
        if state.handoff is None or state.handoff.webhook:
            return
        if self.catalog.flows.defaults.agent.webhook:
            return
        self.add(
            "error",
            ("states", sname, "handoff"),
            f"state `{sname}` hands the customer to an agent, but no webhook receives their "
            "messages: set `webhook:` here or `defaults.agent.webhook`",
        )


# The fields of a collected photo, file, place or contact worth showing in a text.
_FIELDS = {
    "location": ("name", "address"),
    "contact": ("contacts[0].name",),
    "media": ("caption", "filename"),
}


def _customer_texts(state: StateSpec) -> list[tuple[tuple[Any, ...], Any]]:
    """The texts of a state its customers read, with their YAML paths: what it says, its
    re-prompt, its options' labels (when they are buttons), its link's label, a collect's
    invalid text, its reminders, its SMS fallback."""
    labels = enumerate(state.options) if state.buttons else enumerate(())
    found: list[tuple[tuple[Any, ...], Any]] = [
        (("say",), state.say), (("reprompt",), state.reprompt),
        *(item for i, o in labels for item in (
            (("options", i, "label"), o.label),
            (("options", i, "description"), o.description),
            (("options", i, "section"), o.section),
        )),
        (("link", "label"), state.link.label if state.link is not None else None),
        *((("remind", i, "say"), r.say) for i, r in enumerate(state.remind)),
        (("fallback", "content"), state.fallback.content if state.fallback else None),
    ]  # fmt: skip
    if state.collect is not None:
        found.append((("collect", "invalid"), state.collect.invalid))
    return [(where, value) for where, value in found if value]


def _closure(roots: Iterable[str], links: Mapping[str, set[str]]) -> set[str]:
    seen, queue = set(roots), deque(roots)
    while queue:
        for nxt in links.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def lint(catalog: Catalog, root: Any = None) -> list[Finding]:
    """Every finding of every flow, in file and line order. `root` is the ruamel.yaml tree of
    flows.yaml for line numbers (default: the one the loader kept in the catalog)."""
    tree = catalog.flows_root if root is None else root
    found: list[Finding] = []
    for name, spec in catalog.flows.flows.items():
        found += _FlowLint(catalog, tree, name, spec).run()
    found += _numbers_languages(catalog, tree)
    found += _built_in_languages(catalog, tree)
    for code, entry in catalog.flows.templates.items():
        if "url" in entry.buttons and entry.params and not entry.button_params:
            found.append(Finding(
                catalog.flows_path, line_of(tree, ("templates", code, "buttons")), "warning",
                f"template `{code}` has a URL button and no `button_params:`: if its URL "
                "takes a variable, list it there, or its values go into the URL as they are "
                "(a customer's `../x?y#z` included)",
            ))  # fmt: skip
    return sorted(found, key=lambda f: (f.file, f.line))


def _primary(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].lower()


def _written(catalog: Catalog, flow: str) -> set[str]:
    """The languages (primary subtags) of the texts a flow's customers read; one written
    without languages is in the default one."""
    default = [catalog.flows.defaults.language]
    return {_primary(lang) for state in catalog.flows.flows[flow].states.values()
            for _, value in _customer_texts(state)
            for lang in (value if isinstance(value, dict) else default)}  # fmt: skip


def _spoken(catalog: Catalog, flows: Iterable[str]) -> set[str]:
    """The languages (primary subtags) customers of `flows` read: of their texts and of
    the numbers they answer, and the default one."""
    defaults = catalog.flows.defaults
    spoken = {_primary(defaults.language)}
    for name in flows:
        spoken |= _written(catalog, name)
        spoken |= {_primary(n.language) for n in catalog.flows.numbers.values()
                   if n.language and (n.inbound_flow or defaults.inbound_flow) == name}  # fmt: skip
    return spoken


def _built_in_languages(catalog: Catalog, tree: Any) -> list[Finding]:
    """Texts the bot sends that no state wrote: `defaults.reprompt`, `defaults.texts` (each
    only where the flows can send it) and a collect's re-prompt without `invalid:`. One
    without a language the flows speak reaches those customers in another one."""
    defaults = catalog.flows.defaults
    spoken = _spoken(catalog, catalog.flows.flows)
    states = [s for flow in catalog.flows.flows.values() for s in flow.states.values()]
    sent = {"stopped", "started", "stopped_marketing", "started_marketing"}
    if any(s.handoff is not None for s in states) or defaults.agent.webhook:
        sent |= {"agent", "agent_resumed"}
    if any(s.otp is not None for s in states):
        sent |= {"otp_wrong", "otp_resend_wait"}
    if any(s.buttons and len(s.options) > 3 for s in states):
        sent |= {"list_button", "list_title"}
    texts: list[tuple[tuple[str, ...], Any]] = [
        (("texts", name), getattr(defaults.texts, name)) for name in sorted(sent)
    ]
    if any(s.reprompt is None and s.collect is None and s.otp is None and s.call is None
           for s in states):  # fmt: skip
        texts.insert(0, (("reprompt",), defaults.reprompt))
    found = []
    for where, value in texts:
        langs = (
            {_primary(x) for x in value}
            if isinstance(value, dict)
            else {_primary(defaults.language)}
        )
        if missing := sorted(spoken - langs):
            some = ", ".join(f"`{x}`" for x in missing)
            found.append(Finding(
                catalog.flows_path, line_of(tree, ("defaults", *where)), "warning",
                f"`defaults.{'.'.join(where)}` has no {some} text, though the flows speak "
                f"{some}: a customer whose language is {some} gets it in another language; "
                f"write it under `defaults:` with a text for each",
            ))  # fmt: skip
    for flow_name, flow in catalog.flows.flows.items():
        if not (missing := sorted(_spoken(catalog, [flow_name]) - REPROMPT_LANGUAGES)):
            continue
        some = ", ".join(f"`{x}`" for x in missing)
        for sname, state in flow.states.items():
            if state.collect is None or state.collect.invalid is not None:
                continue
            found.append(Finding(
                catalog.flows_path,
                line_of(tree, ("flows", flow_name, "states", sname, "collect")), "warning",
                f"state `{sname}` of flow `{flow_name}` collects without `invalid:`, and the "
                f"built-in re-prompts have no {some} text: a customer whose language is {some} "
                "gets one in English; write `invalid:` with a text for each",
            ))  # fmt: skip
    return found


def _numbers_languages(catalog: Catalog, tree: Any) -> list[Finding]:
    """A business number whose language its inbound flow does not speak (its texts are in
    other languages): its customers would read another one from the first message on."""
    defaults = catalog.flows.defaults
    found = []
    for name, number in catalog.flows.numbers.items():
        lang = number.language or defaults.language
        flow = number.inbound_flow or defaults.inbound_flow
        if flow is None or flow not in catalog.flows.flows:
            continue
        spoken = _written(catalog, flow)
        if spoken and _primary(lang) not in spoken:
            where = "language" if number.language else "number"
            found.append(Finding(
                catalog.flows_path, line_of(tree, ("numbers", name, where)), "warning",
                f"numbers.{name} speaks `{lang}`, but its inbound flow `{flow}` has no `{lang}` "
                f"text (it speaks {', '.join(f'`{x}`' for x in sorted(spoken))}): its customers "
                "would read another language",
            ))  # fmt: skip
    return found


def lint_against(old: Catalog, new: Catalog) -> list[Finding]:
    """What changing the flows from `old` (live) to `new` does to live conversations: a state
    that is gone and has no `migrations:` entry ends the conversations standing in it."""
    found: list[Finding] = []
    for name, old_flow in old.flows.flows.items():
        new_flow = new.flows.flows.get(name)
        if new_flow is None:
            found.append(
                Finding(
                    old.flows_path,
                    line_of(old.flows_root, ("flows", name)),
                    "warning",
                    f"flow `{name}` is gone from {new.flows_path}: live conversations in it "
                    "would end",
                )
            )
            continue
        line = line_of(new.flows_root, ("flows", name, "migrations"))
        for state in old_flow.states:
            if state in new_flow.states or state in new_flow.migrations:
                continue
            close = difflib.get_close_matches(state, list(new_flow.states), n=1)
            target = close[0] if close else new_flow.start
            found.append(
                Finding(
                    new.flows_path,
                    line,
                    "error",
                    f"live conversations in flow `{name}` state `{state}` would end: add "
                    f"`migrations: {{{state}: {target}}}` under flow `{name}` (or another state "
                    "to continue at)",
                )
            )
    return sorted(found, key=lambda f: (f.file, f.line))
