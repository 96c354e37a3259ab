"""`bot check` beyond loading: each lint finding with its `file:line`, severity and fix, the
findings of the shipped examples, and changes checked against the live flows (`--against`)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.flows.loader import load_catalog
from bot.flows.tools.lint import Finding, lint
from tests.support import ROOT


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _lint(tmp_path: Path, flows: str, intents: dict[str, str] | None = None) -> list[Finding]:
    """Write flows.yaml (and intents/), load them, and lint."""
    _write(tmp_path / "flows.yaml", flows)
    folder = tmp_path / "intents"
    folder.mkdir(exist_ok=True)
    for name, text in (intents or {}).items():
        _write(folder / name, text)
    return lint(load_catalog(tmp_path / "flows.yaml", folder))


def _yaml_lines(value: dict[str, Any], indent: int) -> str:
    """`value` as YAML block lines indented by `indent` spaces (texts as JSON strings)."""
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(" " * indent + f"{key}:\n" + _yaml_lines(item, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {json.dumps(item)}\n")
    return "".join(lines)


def _lines(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings]


def _only(findings: list[Finding], file: Path, line: int, severity: str, *words: str) -> None:
    assert len(findings) == 1, "\n".join(_lines(findings))
    text = str(findings[0])
    assert text.startswith(f"{file}:{line}: {severity}: "), text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


START_INTENT = {"go.yaml": "code: go\nname: Go\nstart: f\n"}


# -- paths ------------------------------------------------------------------------------


def test_a_state_nothing_leads_to_is_a_warning_at_its_line(tmp_path: Path) -> None:
    """A state no move leads to from the start is reported, as a warning, at its key."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Hi
              orphan:  # line 7
                say: Nobody comes here
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 7, "warning",
        "state `orphan` cannot be reached from the start `ask`", "remove it",
    )  # fmt: skip


def test_a_state_that_can_never_end_is_a_warning(tmp_path: Path) -> None:
    """A waiting state whose every way on comes back to it is a dead end (warning)."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - {label: Done, go: done}
                  - {label: Loop, go: loop}
              loop:  # line 10
                say: Again?
                options:
                  - {label: Again, go: loop}
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 10, "warning",
        "state `loop` of flow `f` can never reach an end", "add a way out",
    )  # fmt: skip


# -- variables --------------------------------------------------------------------------


def test_an_undefined_variable_is_an_error_with_a_suggestion_and_the_known_names(
    tmp_path: Path,
) -> None:
    """An undefined name read by a text is an error with the close name and the known ones."""
    flows = """\
        flows:
          f:
            start: hi
            data: {name: ""}
            states:
              hi:
                say: "Hi {{ nmae }}"  # line 7
        """
    findings = _lint(tmp_path, flows)
    _only(
        findings, tmp_path / "flows.yaml", 7, "error",
        "`say` of state `hi` reads `nmae`, which flow `f` never defines",
        "Did you mean `name`?",
        "Known: attempts, channel, customer, lang, message, name, now, today.",
    )  # fmt: skip


def test_names_are_defined_by_data_set_slots_saves_and_intent_data(tmp_path: Path) -> None:
    """data, set targets, slots, call saves, intents' default data and built-ins define names."""
    flows = """\
        flows:
          f:
            start: ask
            data: {a: 1}
            states:
              ask:
                say: "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ f }} {{ g }} {{ h }}"
                template: {code: t, params: {x: "{{ lang + customer + channel + today }}"}}
                set: {b: "now + attempts"}
                options:
                  - {label: "One {{ message }}", go: get, set: {c: "1"}}
                  - {label: Two, go: wait, when: "today != ''"}
              get:
                say: Number?
                collect: {slot: d, type: integer}
                routes:
                  - {when: "d > 1", go: fetch, set: {e: "d"}}
                  - {go: fetch}
              fetch:
                call:
                  url: "https://api.example.com/{{ d }}"
                  save: {f: body.f}
                  success: wait
                  failure: wait
              wait:
                say: Waiting
                template: {code: w}
                on: {shipped: done}
              done:
                template: {code: d}
        """
    intents = {
        "go.yaml": "code: go\nname: Go\nstart: f\ndefault_data: {g: 1}\n",
        "ship.yaml": "code: ship\nname: Ship\nevent: shipped\ndefault_data: {h: 1}\n",
    }
    assert _lint(tmp_path, flows, intents) == []


def test_error_and_otp_are_defined_only_where_the_engine_provides_them(tmp_path: Path) -> None:
    """`error` is defined only in a collect's `invalid:`, `otp` only in the otp template."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: "Number? {{ error }}"  # line 6
                collect: {slot: n, type: integer, invalid: "{{ error }}: again", go: code}
              code:
                otp:
                  template: {code: otp, params: {code: "{{ otp }}"}}
                  verified: done
                  wrong: done
                  expired: done
              done:
                say: "Done {{ otp }}"  # line 15
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.severity) for f in findings] == [(6, "error"), (15, "error")]
    assert "reads `error`" in findings[0].message
    assert "reads `otp`" in findings[1].message


def test_expressions_in_when_and_set_are_checked_at_their_lines(tmp_path: Path) -> None:
    """Names read by `when:` and by `set:` values are checked too, each at its own line."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                set: {x: "y + 1"}  # line 6
                routes:
                  - {when: "z > 1", go: done}  # line 8
                  - {go: done}
              done:
                say: Bye
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.message.split(",")[0]) for f in findings] == [
        (6, "`set.x` of state `ask` reads `y`"),
        (8, "`routes.0.when` of state `ask` reads `z`"),
    ]


# -- the 24-hour window -----------------------------------------------------------------


def test_a_flow_started_by_an_intent_needs_a_template_at_its_start(tmp_path: Path) -> None:
    """A business-started flow's first state with `say:` alone is an error naming the intent."""
    flows = """\
        flows:
          f:
            start: hello
            states:
              hello:  # line 5
                say: Hello
        """
    _only(
        _lint(tmp_path, flows, START_INTENT), tmp_path / "flows.yaml", 5, "error",
        "state `hello` can be reached by the start of flow `f` by intent `go` outside the "
        "24-hour window: add `template:`",
    )  # fmt: skip


def test_the_inbound_flow_is_customer_initiated(tmp_path: Path) -> None:
    """The flow a customer's own message starts may answer with `say:` alone."""
    flows = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: hello
            states:
              hello:
                say: Hello
        """
    assert _lint(tmp_path, flows) == []


def test_events_and_routes_chained_from_them_need_templates(tmp_path: Path) -> None:
    """States reached by an `on:` event, and by routes from there, need a template."""
    flows = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: wait
            states:
              wait:
                say: We will write when it ships
                on: {shipped: note}
              note:
                set: {seen: "true"}
                routes: [{go: shipped}]
              shipped:  # line 12
                say: It shipped
        """
    intents = {"ship.yaml": "code: ship\nname: Ship\nevent: shipped\n"}
    _only(
        _lint(tmp_path, flows, intents), tmp_path / "flows.yaml", 12, "error",
        "state `shipped` can be reached by event `shipped` (intent `ship`) in state `wait`, then "
        "the routes of state `note` outside the 24-hour window: add `template:`",
    )  # fmt: skip


def test_timers_count_from_the_customers_last_message(tmp_path: Path) -> None:
    """Timer delays add up from the customer's message; at 24 hours a template is due."""
    flows = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: ask
            states:
              ask:
                say: Still there?
                options: [{label: Yes, go: done}]
                timeout: {after: 20h, go: nudge}
              nudge:
                say: Hello?
                options: [{label: Yes, go: done}]
                timeout: {after: 4h, go: late}
              late:  # line 14
                say: Too late
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 14, "error",
        "state `late` can be reached by the timeout of state `nudge` (1d after the customer's "
        "message) outside the 24-hour window",
    )  # fmt: skip


def test_a_loop_of_timers_can_run_past_the_window(tmp_path: Path) -> None:
    """States timing out into each other can be entered any time later: both are errors."""
    flows = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: ping
            states:
              ping:  # line 6
                say: Ping
                options: [{label: Stop, go: done}]
                timeout: {after: 1h, go: pong}
              pong:  # line 10
                say: Pong
                options: [{label: Stop, go: done}]
                timeout: {after: 1h, go: ping}
              done:
                say: Bye
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.severity) for f in findings] == [(6, "error"), (10, "error")]
    assert all("in a loop of timers" in f.message for f in findings)


def test_call_answers_and_handoff_timeouts_add_their_delay(tmp_path: Path) -> None:
    """Call answers and handoff timeouts add their delay; a 1-day handoff timeout is late."""
    flows = """\
        defaults: {inbound_flow: f, agent: {webhook: "https://agents.example.com"}}
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - {label: Look, go: look}
                  - {label: Agent, go: agent}
              look:
                call: {url: "https://api.example.com/x", success: found, failure: found}
              found:
                say: Found it
              agent:
                say: Connecting
                handoff: {resume: found, timeout: 1d, on_timeout: gone}
              gone:  # line 18
                say: The agent left
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 18, "error",
        "state `gone` can be reached by the handoff timeout of state `agent` (1d after the "
        "customer's message)",
    )  # fmt: skip


def test_failed_sends_need_templates(tmp_path: Path) -> None:
    """A state reached by `on_failed:` can come any time: it needs a template."""
    flows = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: hello
            states:
              hello:
                say: Hello
                on_failed: retry
              retry:  # line 9
                say: Trying again
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 9, "error",
        "state `retry` can be reached by a failed send in state `hello`",
    )  # fmt: skip


def test_a_reminder_that_can_be_late_needs_its_own_template(tmp_path: Path) -> None:
    """A reminder that can be due outside the window needs its own template."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                template: {code: ask}
                options:
                  - {label: Yes, go: again}
                remind:
                  - {after: 2h, say: "Reply yes"}  # line 10
              again:
                say: And again?
                options:
                  - {label: Yes, go: done}
                remind:
                  - {after: 2h, say: "Reply yes"}
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows, START_INTENT), tmp_path / "flows.yaml", 10, "error",
        "reminder 1 of state `ask` can be sent outside the 24-hour window (state `ask` can be "
        "reached by the start of flow `f` by intent `go`): add `template:` to it",
    )  # fmt: skip


# -- options, routes, handoffs, calls ----------------------------------------------------


def test_overlapping_options_are_errors_naming_both_numbers(tmp_path: Path) -> None:
    """An option word that is another option's number is an error at the option's line."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - {label: Yes, keywords: [two], go: done}  # line 8
                  - {label: No, go: done}
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 8, "error",
        "options 1 and 2 of state `ask` overlap: option 1's word 'two' is also the number 2",
        "remove or change the word or pattern of option 1",
    )  # fmt: skip


def test_routes_that_can_all_fail_are_a_warning(tmp_path: Path) -> None:
    """Routes without a last unconditional route are a warning at `routes:`."""
    flows = """\
        flows:
          f:
            start: check
            data: {n: 1}
            states:
              check:
                routes:  # line 7
                  - {when: "n > 1", go: done}
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 7, "warning",
        "when no route holds, the conversation waits in `check`",
    )  # fmt: skip


def test_routes_after_an_unconditional_route_are_a_warning(tmp_path: Path) -> None:
    """A route after one without `when:` is never taken (warning at that route)."""
    flows = """\
        flows:
          f:
            start: check
            data: {n: 1}
            states:
              check:
                routes:
                  - {go: done}
                  - {when: "n > 1", go: done}  # line 9
              done:
                say: Bye
        """
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 9, "warning",
        "route 2 of state `check` is never taken: route 1 has no `when:`",
    )  # fmt: skip


HANDOFF = """\
    {defaults}
    flows:
      f:
        start: talk
        states:
          talk:
            say: Connecting
            handoff: {{resume: done}}  # line 8
          done:
            say: Bye
    """


def test_a_handoff_without_any_webhook_is_an_error(tmp_path: Path) -> None:
    """A handoff state needs its own `webhook:` or `defaults.agent.webhook`."""
    flows = HANDOFF.format(defaults="defaults: {inbound_flow: f}")
    _only(
        _lint(tmp_path, flows), tmp_path / "flows.yaml", 8, "error",
        "state `talk` hands the customer to an agent, but no webhook receives their messages",
    )  # fmt: skip


def test_a_handoff_with_the_default_webhook_is_fine(tmp_path: Path) -> None:
    """defaults.agent.webhook serves handoff states without their own."""
    defaults = 'defaults: {inbound_flow: f, agent: {webhook: "https://agents.example.com"}}'
    assert _lint(tmp_path, HANDOFF.format(defaults=defaults)) == []


# -- the examples -----------------------------------------------------------------------


def test_the_example_flows_lint_clean() -> None:
    """The shipped flows.yaml has neither errors nor warnings."""
    catalog = load_catalog(ROOT / "flows.yaml", ROOT / "intents")
    assert lint(catalog) == []


# -- bot check --------------------------------------------------------------------------

CLEAN = """\
    defaults: {inbound_flow: f}
    flows:
      f:
        start: ask
        states:
          ask:
            say: Pick
            options:
              - {label: Old, go: old}
              - {label: Kept, go: kept}
          old:  # line 11
            say: Old  # line 12
          kept:
            say: Kept
      gone:  # line 15
        start: x
        states:
          x: {say: X}
    """


def _check(tmp_path: Path, flows: str, *extra: str) -> tuple[int, str, Path]:
    path = _write(tmp_path / "flows.yaml", flows)
    (tmp_path / "intents").mkdir(exist_ok=True)
    code = main(["check", "--flows", str(path), "--intents", str(tmp_path / "intents"), *extra])
    return code, str(path), path


def test_check_prints_the_ok_line_when_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without findings `bot check` prints only the `ok` line and exits 0."""
    code, file, _ = _check(tmp_path, CLEAN)
    assert code == 0
    assert capsys.readouterr().out == f"{file}: ok: 2 flows, 4 states; 0 intents\n"


def test_check_prints_findings_and_fails_on_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Findings are `file:line: severity: message` lines; an error makes the exit code 1."""
    code, file, _ = _check(tmp_path, CLEAN.replace("say: Old", 'say: "{{ nope }}"'))
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith(f"{file}:12: error: `say` of state `old` reads `nope`")
    assert out[1:] == [f"{file}: 1 error, 0 warnings: 2 flows, 4 states; 0 intents"]


def test_check_passes_warnings_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings alone exit 0 (the count follows the ok line); with --strict they exit 1."""
    flows = CLEAN.replace("- {label: Old, go: old}", "- {label: Old, go: kept}")
    code, file, _ = _check(tmp_path, flows)
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith(f"{file}:11: warning: state `old` cannot be reached")
    assert out[1:] == [f"{file}: ok: 2 flows, 4 states; 0 intents; 1 warning"]
    code, _, _ = _check(tmp_path, flows, "--strict")
    assert code == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{file}: 0 errors, 1 warning: 2 flows, 4 states; 0 intents"
    )


def test_check_against_the_live_flows_lists_states_that_would_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--against: gone states without migrations are errors, gone flows warnings."""
    old = _write(tmp_path / "old.yaml", CLEAN)
    new = """\
        defaults: {inbound_flow: f}
        flows:
          f:
            start: ask
            migrations: {old: ask}  # line 5
            states:
              ask:
                say: Pick
                options:
                  - {label: Kept, go: kept_now}
              kept_now:
                say: Kept
        """
    code, file, _ = _check(tmp_path, new, "--against", str(old))
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        f"{file}:5: error: live conversations in flow `f` state `kept` would end: add "
        "`migrations: {kept: kept_now}` under flow `f` (or another state to continue at)",
        f"{old}:15: warning: flow `gone` is gone from {file}: live conversations in it would end",
        f"{file}: 1 error, 1 warning: 1 flows, 2 states; 0 intents",
    ]


def test_check_against_a_broken_old_file_reports_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --against file that does not load is reported like any loading problem."""
    old = _write(tmp_path / "old.yaml", "flows: {f: {start: a}}\n")
    code, _, _ = _check(tmp_path, CLEAN, "--against", str(old))
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[0].startswith(f"{old}:1: missing required field `states`")


def test_a_call_url_based_on_a_secret_is_not_warned(tmp_path: Path) -> None:
    """`{{ secret.NAME }}` as the whole base of a call url is configuration, not data."""
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        textwrap.dedent(
            """\
            defaults: {inbound_flow: f}
            flows:
              f:
                start: go
                states:
                  go:
                    call:
                      url: "{{ secret.API }}/orders/{{ message }}"
                      success: done
                      failure: done
                  done: {say: Done}
            """
        )
    )
    (tmp_path / "intents").mkdir()
    assert lint(load_catalog(flows, tmp_path / "intents")) == []


# -- languages -------------------------------------------------------------------------------


def test_a_text_without_a_language_the_flow_speaks_is_a_warning_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flow with Spanish texts and one state written in English alone: that state's
    text is reported at its line (a Spanish customer gets it in English); a flow written in
    one language is not, nor are labels that are no buttons. `bot check --strict` fails on
    it."""
    flows = """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: {en: "1 or 2?", es: "¿1 o 2?"}
                buttons: true
                options:
                  - {label: {en: One, es: Uno}, go: done}
                  - {label: Two, go: done}  # line 10
              done:
                say: "Done."  # line 12
          plain:
            start: hi
            states:
              hi: {say: "Hello."}
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.severity) for f in findings] == [(10, "warning"), (12, "warning")]
    assert "state `done`: `say` has no `es` text" in str(findings[1])
    assert "a customer whose language is `es` gets it in `en`" in str(findings[1])
    assert "`options.1.label` has no `es` text" in str(findings[0])
    (tmp_path / "intents").mkdir(exist_ok=True)
    args = [
        "check",
        "--flows",
        str(tmp_path / "flows.yaml"),
        "--intents",
        str(tmp_path / "intents"),
    ]
    assert main(args) == 0
    assert main([*args, "--strict"]) == 1
    capsys.readouterr()


def test_a_links_label_speaks_the_flows_languages_and_its_url_reads_defined_names(
    tmp_path: Path,
) -> None:
    """A link's label is a text customers read: without a language its flow speaks it is
    a warning at its line; a name its URL reads that the flow never defines is an error."""
    flows = """\
        flows:
          f:
            start: show
            states:
              show:
                say: {en: "On its way.", es: "En camino."}
                link:
                  label: Track parcel  # line 8
                  url: "https://track.example.com/p/{{ parcel }}"  # line 9
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.severity) for f in findings] == [(8, "warning"), (9, "error")]
    assert "`link.label` has no `es` text" in str(findings[0])
    assert "`link.url` of state `show` reads `parcel`" in str(findings[1])
    fixed = flows.replace("label: Track parcel", "label: {en: Track parcel, es: Seguir envío}")
    fixed = fixed.replace("{{ parcel }}", "{{ customer }}")
    assert _lint(tmp_path / "fixed", fixed) == []


# -- media shown whole -----------------------------------------------------------------------


def test_a_photo_or_place_shown_whole_in_a_text_is_a_warning_naming_its_fields(
    tmp_path: Path,
) -> None:
    """`{{ parcel }}` of a photo slot shows the customer JSON (its media id and URL): a
    warning at the text's line names the fields meant; its fields, and the slot passed to a
    call, are not reported."""
    flows = """\
        flows:
          f:
            start: photo
            states:
              photo:
                say: "A photo of the parcel, please."
                collect: {slot: parcel, type: image, go: where}
              where:
                say: "Got {{ parcel }}. Where are you?"  # line 9
                collect: {slot: place, type: location, go: done}
              done:
                say: "{{ upper(place.name) }}: we come to {{ place }}."
        """
    findings = _lint(tmp_path, flows)
    assert [(f.line, f.severity) for f in findings] == [(9, "warning"), (12, "warning")]
    assert "shows the image slot `parcel` whole" in str(findings[0])
    assert "`{{ parcel.caption }}` or `{{ parcel.filename }}`" in str(findings[0])
    assert "shows the location slot `place` whole" in str(findings[1])
    assert "`{{ place.name }}` or `{{ place.address }}`" in str(findings[1])
    fixed = flows.replace("{{ parcel }}", "{{ parcel.caption }}")
    fixed = fixed.replace("{{ place }}", "{{ place.name }}")
    assert _lint(tmp_path / "fixed", fixed) == []


# -- the bot's own texts ---------------------------------------------------------------------


def test_the_bots_own_texts_without_a_language_the_flows_speak_are_warnings(
    tmp_path: Path,
) -> None:
    """Italian flows: the built-in confirmations of STOP, START and their marketing forms,
    the default re-prompt and a collect's built-in re-prompt have no Italian; each is a
    warning (at `defaults:` or the collect's line). Written in Italian, none is left; the
    agent's and the one-time code's texts are not reported where no state sends them."""
    flows = """\
        defaults:
          language: it
        flows:
          f:
            start: ask
            states:
              ask:
                say: "Quanti?"
                collect: {slot: n, type: integer, go: pick}  # line 9
              pick:
                say: "1 sì, 2 no"
                options:
                  - {label: "Sì", go: done}
                  - {label: "No", go: done}
              done: {say: "Grazie."}
        """
    findings = _lint(tmp_path, flows)
    lines = _lines(findings)
    assert [(f.line, f.severity) for f in findings] == [(1, "warning")] * 5 + [(9, "warning")]
    for name in ("reprompt", "texts.started", "texts.started_marketing", "texts.stopped",
                 "texts.stopped_marketing"):  # fmt: skip
        assert any(f"`defaults.{name}` has no `it` text" in line for line in lines), lines
    assert "collects without `invalid:`" in lines[-1]
    assert "gets one in English" in lines[-1]
    own = {"reprompt": "Scusi?", "texts": {"stopped": "Basta.", "started": "Bentornato!",
           "stopped_marketing": "Niente offerte.", "started_marketing": "Offerte."}}  # fmt: skip
    written = flows.replace("language: it\n", f"language: it\n{_yaml_lines(own, 10)}")
    written = written.replace("go: pick}", 'go: pick, invalid: "Un numero, per favore."}')
    assert _lint(tmp_path / "written", written) == []


def test_a_default_reprompt_written_in_one_language_is_a_warning_where_flows_speak_two(
    tmp_path: Path,
) -> None:
    """A `defaults.reprompt` written without languages is in the default one: flows that
    speak Spanish too get a warning at its line. The built-in one speaks both."""
    flows = """\
        defaults:
          reprompt: "Sorry?"  # line 2
        flows:
          f:
            start: pick
            states:
              pick:
                say: {en: "1 or 2?", es: "¿1 o 2?"}
                options:
                  - {label: {en: One, es: Uno}, go: done}
                  - {label: {en: Two, es: Dos}, go: done}
              done: {say: {en: "Thanks.", es: "Gracias."}}
        """
    findings = _lint(tmp_path, flows)
    _only(findings, tmp_path / "flows.yaml", 2, "warning", "`defaults.reprompt` has no `es`")
    built_in = flows.replace('  reprompt: "Sorry?"  # line 2\n', "  language: en\n")
    assert _lint(tmp_path / "built_in", built_in) == []


def test_a_default_reprompt_written_in_a_regional_default_language_lacks_nothing(
    tmp_path: Path,
) -> None:
    """With `defaults.language: es-MX`, a `defaults.reprompt` written without languages is
    in Spanish: flows written in it alone get no warning."""
    flows = """\
        defaults:
          language: es-MX
          reprompt: "Perdón, no entendí."
        flows:
          f:
            start: a
            states:
              a:
                say: "¿Sí o no?"
                options:
                  - {label: "Sí", go: b}
              b: {say: "Adiós"}
        """
    assert _lint(tmp_path, flows) == []
