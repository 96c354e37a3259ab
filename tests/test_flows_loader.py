"""Start-up errors an author sees: every problem in flows.yaml and intents/ is reported as
`file:line: what is wrong and what to do`, all of them at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import SpecError, SpecProblem
from bot.flows.loader import load_catalog
from tests.support import ROOT

# A valid flows file for the intents tests: flow `appt`, whose state `wait` handles the
# event `cancelled`.
FLOWS = """\
flows:
  appt:
    start: wait
    states:
      wait:
        say: Reply 1 to confirm
        options:
          - {label: Confirm, go: done}
        on:
          cancelled: done
      done:
        say: Bye
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _problems(
    tmp_path: Path, flows: str = FLOWS, intents: dict[str, str] | None = None
) -> list[SpecProblem]:
    """Write flows.yaml and intents/, load them, and return the problems reported."""
    _write(tmp_path / "flows.yaml", flows)
    folder = tmp_path / "intents"
    folder.mkdir()
    for name, text in (intents or {}).items():
        _write(folder / name, text)
    with pytest.raises(SpecError) as caught:
        load_catalog(tmp_path / "flows.yaml", folder)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def _only(problems: list[SpecProblem]) -> SpecProblem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def _assert_problem(problem: SpecProblem, file: Path, line: int, *words: str) -> None:
    assert str(problem).startswith(f"{file}:{line}: "), str(problem)
    for word in words:
        assert word in problem.message, f"{word!r} not in {problem.message!r}"


# -- flows.yaml: cross-references -------------------------------------------------------


def test_option_going_to_an_undefined_state_points_at_go_and_suggests_the_close_name(
    tmp_path: Path,
) -> None:
    """An option's `go:` to a missing state names the option, the target and the close name."""
    flows = """\
        flows:
          appt:
            start: ask
            states:
              ask:
                say: Confirm?
                options:
                  - label: Confirm
                    go: confirmd
              confirmed:
                say: Thanks
        """
    problem = _only(_problems(tmp_path, flows))
    _assert_problem(
        problem,
        tmp_path / "flows.yaml",
        9,
        "option 1 of state `ask`",
        "`confirmd`",
        "not a state of flow `appt`",
        "add it under flows.appt.states or fix the name",
        "Did you mean `confirmed`?",
    )


def test_start_naming_a_missing_state_points_at_start(tmp_path: Path) -> None:
    """`start:` naming no state is reported on its line, with the close name."""
    flows = """\
        flows:
          appt:
            description: A reminder
            start: remnd
            states:
              remind:
                say: Hello
        """
    problem = _only(_problems(tmp_path, flows))
    _assert_problem(
        problem,
        tmp_path / "flows.yaml",
        4,
        "flow `appt` starts at `remnd`",
        "not one of its states",
        "Did you mean `remind`?",
    )


AMBIGUOUS = [
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - {label: Reschedule, go: ask}
                  - {label: RÉSCHEDULE, go: ask}
        """,
        9,
        ("option 2 of state `ask` repeats `reschedule`", "option 1", "choose one option only"),
        id="label-differing-in-case-and-accents",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - label: Confirm
                    keywords: [ok, sure]
                    go: ask
                  - label: Cancel
                    keywords: [no, Sure!]
                    go: ask
        """,
        11,
        ("option 2 of state `ask` repeats `sure`", "option 1", "choose one option only"),
        id="keyword-shared",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - label: Confirm
                    payload: YES
                    go: ask
                  - label: Cancel
                    payload: YES
                    go: ask
        """,
        12,
        ("option 2 of state `ask` has the payload `YES` of option 1", "payloads must differ"),
        id="duplicate-payload",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - label: Confirm
                    payload: f.ask.2
                    go: ask
                  - label: Cancel
                    go: ask
        """,
        11,
        ("option 2 of state `ask` has the payload `f.ask.2` of option 1", "payloads must differ"),
        id="explicit-payload-equal-to-a-default-one",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - label: Confirm
                    go: ask
                  - label: 3
                    go: ask
        """,
        10,
        ("option 2 of state `ask` uses the number `3`", "numbers choose options by position"),
        id="number-as-label",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options:
                  - label: Confirm
                    keywords: [yes, "(1)"]
                    go: ask
        """,
        8,
        ("option 1 of state `ask` uses the number `1`", "use words"),
        id="decorated-number-as-keyword",
    ),
    pytest.param(
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Rate us
                options:
                  - {label: "👍", go: ask}
                  - {label: "👎", go: ask}
                  - {label: Later, keywords: ["👍!"], go: ask}
        """,
        10,
        ("option 3 of state `ask` repeats `👍`", "option 1"),
        id="emoji-label-repeated-as-keyword",
    ),
]


@pytest.mark.parametrize(("flows", "line", "words"), AMBIGUOUS)
def test_options_a_reply_cannot_tell_apart_are_reported(
    tmp_path: Path, flows: str, line: int, words: tuple[str, ...]
) -> None:
    """Options sharing a label, keyword or payload, or using a number as a word, are errors."""
    _assert_problem(_only(_problems(tmp_path, flows)), tmp_path / "flows.yaml", line, *words)


def test_event_going_to_an_undefined_state_points_at_the_event(tmp_path: Path) -> None:
    """An `on:` event whose target is not a state is reported on the event's line."""
    flows = """\
        flows:
          f:
            start: wait
            states:
              wait:
                say: Waiting
                on:
                  paid: done
                  cancelled: gone
              done:
                say: Paid
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        9,
        "event `cancelled` of state `wait` goes to `gone`",
        "not a state of flow `f`",
        "Known: done, wait.",
    )


def test_buttons_without_options_points_at_buttons(tmp_path: Path) -> None:
    """`buttons: true` on a state without options says to add options or remove it."""
    flows = """\
        flows:
          f:
            start: bye
            states:
              bye:
                say: Bye
                buttons: true
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        7,
        "state `bye` asks for buttons but has no options",
        "add `options:`",
        "remove `buttons: true`",
    )


# -- flows.yaml: schema -----------------------------------------------------------------


def test_state_that_asks_without_saying_points_at_the_state(tmp_path: Path) -> None:
    """A state with options but neither `say` nor `template` is reported on its own line."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                say: Hello
                options: [{label: Next, go: b}]
              b:
                options: [{label: Back, go: a}]
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        8,
        "flows.f.states.b",
        "a state that asks the customer needs `say:` or `template:`",
    )


def test_unknown_field_points_at_its_line(tmp_path: Path) -> None:
    """A misspelt field (`opitons:`) is named with its line and a hint to fix the spelling."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                say: Hello
                opitons:
                  - {label: Next, go: a}
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        7,
        "unknown field `opitons`",
        "flows.f.states.a.opitons",
        "remove it or fix its spelling",
    )


def test_unknown_field_in_a_flow_style_option_points_at_the_option(tmp_path: Path) -> None:
    """A typo inside `{...}` is reported on that line."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                say: Hello
                options:
                  - {label: Next, go: a}
                  - {label: Stop, go: a, kewords: [end]}
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        9,
        "unknown field `kewords`",
        "flows.f.states.a.options.1.kewords",
    )


@pytest.mark.parametrize(
    ("flows", "line", "field", "where"),
    [
        pytest.param(
            """\
            flows:
              f:
                description: No start
                states:
                  a: {say: Hello}
            """,
            2,
            "start",
            "flows.f.start",
            id="flow-start",
        ),
        pytest.param(
            """\
            flows:
              f:
                start: a
                states:
                  a:
                    say: Hello
                    options:
                      - label: Next
            """,
            8,
            "go",
            "flows.f.states.a.options.0.go",
            id="option-go",
        ),
        pytest.param(
            """\
            defaults:
              language: en
            """,
            1,
            "flows",
            "flows",
            id="flows",
        ),
    ],
)
def test_missing_required_field_points_at_its_parent(
    tmp_path: Path, flows: str, line: int, field: str, where: str
) -> None:
    """A missing required field is named, with the line of the mapping that lacks it."""
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        line,
        f"missing required field `{field}`",
        where,
    )


@pytest.mark.parametrize(
    ("flows", "line", "words"),
    [
        pytest.param(
            """\
            flows:
              f:
                start: a
                states:
                  a:
                    say: Hello: world
            """,
            6,
            ("YAML syntax", "mapping values are not allowed here"),
            id="colon-in-plain-text",
        ),
        pytest.param(
            """\
            flows:
              f:
                start: a
                states:
                  a:
                    say: "Hello
                    buttons: false
            """,
            6,
            ("YAML syntax", "end of stream", "quoted scalar"),
            id="unclosed-quote",
        ),
        pytest.param(
            """\
            flows:
              f:
                start: a
                states:
                  a: {say: Hello
            """,
            5,
            ("YAML syntax", "flow mapping"),
            id="unclosed-brace",
        ),
        pytest.param(
            """\
            flows:
              f:
                start: a
                states: [

            """,
            4,
            ("YAML syntax", "stream end"),
            id="unclosed-bracket-at-the-end",
        ),
        pytest.param(
            "flows:\n  f:\n\tstart: a\n",
            3,
            ("YAML syntax", "'\\t'"),
            id="tab-indent",
        ),
    ],
)
def test_invalid_yaml_points_at_the_broken_line(
    tmp_path: Path, flows: str, line: int, words: tuple[str, ...]
) -> None:
    """A YAML syntax error is reported on a line of the file, never past its end."""
    _assert_problem(_only(_problems(tmp_path, flows)), tmp_path / "flows.yaml", line, *words)


def test_text_of_the_wrong_type_names_the_field_as_written(tmp_path: Path) -> None:
    """A `say:` of the wrong type is located at `say`, without pydantic's union type names."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                say: [Hello, World]
        """
    problems = _problems(tmp_path, flows)
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'flows.yaml'}:6: flows.f.states.a.say: Input should be a valid string",
        f"{tmp_path / 'flows.yaml'}:6: flows.f.states.a.say: Input should be a valid dictionary",
    ]


def test_duplicate_yaml_key_points_at_the_repeat(tmp_path: Path) -> None:
    """A key given twice in a mapping is an error on the second one's line."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                say: Hello
              a:
                say: Again
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        7,
        'duplicate key "a"',
        "each key may appear once",
        "remove or rename the repeat",
    )


def test_flows_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    """A flows file holding a list says what the top level must be."""
    _assert_problem(
        _only(_problems(tmp_path, "- appt\n")),
        tmp_path / "flows.yaml",
        1,
        "expected a mapping with a `flows:` key",
    )


def test_missing_flows_file(tmp_path: Path) -> None:
    """A flows file that does not exist is named, with line 0."""
    (tmp_path / "intents").mkdir()
    with pytest.raises(SpecError) as caught:
        load_catalog(tmp_path / "nope.yaml", tmp_path / "intents")
    _assert_problem(_only(caught.value.problems), tmp_path / "nope.yaml", 0, "file not found")


def test_inbound_flow_naming_no_flow_points_at_defaults(tmp_path: Path) -> None:
    """`defaults.inbound_flow` must name a flow; the close name is suggested."""
    flows = """\
        defaults:
          language: en
          inbound_flow: apt
        flows:
          appt:
            start: a
            states:
              a: {say: Hello}
        """
    _assert_problem(
        _only(_problems(tmp_path, flows)),
        tmp_path / "flows.yaml",
        3,
        "defaults.inbound_flow names `apt`",
        "not a flow",
        "Did you mean `appt`?",
    )


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    """Every cross-reference problem of a file is listed, in one error, each on its line."""
    flows = """\
        defaults:
          inbound_flow: nothing
        flows:
          f:
            start: begin
            states:
              a:
                say: Hello
                buttons: true
              b:
                say: Pick
                options:
                  - {label: Yes, go: c}
                  - {label: yes, go: b}
                on:
                  paid: d
        """
    problems = _problems(tmp_path, flows)
    file = tmp_path / "flows.yaml"
    assert [(p.file, p.line) for p in problems] == [
        (str(file), 5),  # start
        (str(file), 9),  # buttons without options
        (str(file), 13),  # go: c
        (str(file), 14),  # repeated label
        (str(file), 16),  # on: paid -> d
        (str(file), 2),  # inbound_flow
    ]


def test_several_schema_problems_are_all_reported(tmp_path: Path) -> None:
    """Schema problems anywhere in the file are listed together."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                sya: Hello
              b:
                say: Bye
                buttons: maybe
              c:
                options: [{label: Back, go: a}]
        """
    problems = _problems(tmp_path, flows)
    assert [p.line for p in problems] == [6, 9, 10]
    assert "unknown field `sya`" in problems[0].message
    assert "flows.f.states.b.buttons" in problems[1].message
    assert "a state that asks the customer needs `say:`" in problems[2].message


# -- intents/ ---------------------------------------------------------------------------


def test_intent_starting_an_unknown_flow(tmp_path: Path) -> None:
    """An intent's `start:` must name a flow of flows.yaml."""
    intents = {
        "reminder.yaml": """\
            code: appointment_reminder
            name: Appointment reminder
            start: apt
            """
    }
    _assert_problem(
        _only(_problems(tmp_path, intents=intents)),
        tmp_path / "intents" / "reminder.yaml",
        3,
        "intent `appointment_reminder` starts flow `apt`",
        "not in flows.yaml",
        "Did you mean `appt`?",
    )


def test_intent_event_no_state_handles(tmp_path: Path) -> None:
    """An intent's `event:` must be handled by some state's `on:`."""
    intents = {
        "cancel.yaml": """\
            code: cancel
            name: Appointment cancelled
            default_data: {}
            event: canceled
            """
    }
    _assert_problem(
        _only(_problems(tmp_path, intents=intents)),
        tmp_path / "intents" / "cancel.yaml",
        4,
        "intent `cancel` sends event `canceled`",
        "no state handles",
        "add it under `on:`",
        "Did you mean `cancelled`?",
    )


@pytest.mark.parametrize(
    "actions",
    [
        pytest.param("start: appt\nevent: cancelled\n", id="both"),
        pytest.param("default_data: {}\n", id="neither"),
    ],
)
def test_intent_needs_exactly_one_of_start_and_event(tmp_path: Path, actions: str) -> None:
    """An intent either starts a flow or sends an event, never both or neither."""
    intents = {"x.yaml": f"code: x\nname: X\n{actions}"}
    _assert_problem(
        _only(_problems(tmp_path, intents=intents)),
        tmp_path / "intents" / "x.yaml",
        1,
        "exactly one of `start: FLOW` or `event: NAME`",
    )


def test_duplicate_intent_code_names_both_files(tmp_path: Path) -> None:
    """The second file with a code already used is reported, naming the first file."""
    intents = {
        "a.yaml": """\
            code: remind
            name: First
            start: appt
            """,
        "b.yml": """\
            # The same code again.
            name: Second
            code: remind
            start: appt
            """,
    }
    _assert_problem(
        _only(_problems(tmp_path, intents=intents)),
        tmp_path / "intents" / "b.yml",
        3,
        "intent code `remind` is already defined in",
        str(tmp_path / "intents" / "a.yaml"),
        "must be unique",
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("- code: x\n", 1, ("expected a mapping with `code:` and `name:`",), id="list"),
        pytest.param("just words\n", 1, ("expected a mapping",), id="scalar"),
        pytest.param("# nothing yet\n", 1, ("expected a mapping",), id="empty"),
        pytest.param(
            "code: x\nname: X\nstart: appt\ndata: {}\n",
            4,
            ("unknown field `data`", "remove it or fix its spelling"),
            id="unknown-field",
        ),
        pytest.param(
            "code: x\nstart: appt\n", 1, ("missing required field `name`",), id="missing-name"
        ),
    ],
)
def test_malformed_intent_file(
    tmp_path: Path, text: str, line: int, words: tuple[str, ...]
) -> None:
    """An intent file that is not a valid intent mapping is reported with its line."""
    _assert_problem(
        _only(_problems(tmp_path, intents={"x.yaml": text})),
        tmp_path / "intents" / "x.yaml",
        line,
        *words,
    )


def test_a_missing_intents_folder_means_no_intents(tmp_path: Path) -> None:
    """No intents folder: the flows load, with no intents (a project may have none); a file
    where the folder should be is named."""
    flows = _write(tmp_path / "flows.yaml", FLOWS)
    assert load_catalog(flows, tmp_path / "intents").intents == {}
    (tmp_path / "intents").write_text("")
    with pytest.raises(SpecError) as caught:
        load_catalog(flows, tmp_path / "intents")
    _assert_problem(
        _only(caught.value.problems), tmp_path / "intents", 0, "expected a folder of intent files"
    )


def test_problems_in_flows_and_intents_are_reported_together(tmp_path: Path) -> None:
    """One load lists the problems of flows.yaml and of every intent file."""
    flows = FLOWS.replace("go: done", "go: dne")
    intents = {
        "a.yaml": "code: a\nname: A\nstart: nowhere\n",
        "b.yaml": "code: b\nname: B\nevent: paid\n",
    }
    problems = _problems(tmp_path, flows, intents)
    assert [(Path(p.file).name, p.line) for p in problems] == [
        ("flows.yaml", 8),
        ("a.yaml", 3),
        ("b.yaml", 3),
    ]


# -- the examples and `bot check` ------------------------------------------------------


def test_example_flows_and_intents_load_cleanly() -> None:
    """The shipped flows.yaml and intents/ have no problems."""
    catalog = load_catalog(ROOT / "flows.yaml", ROOT / "intents")
    assert set(catalog.flows.flows) == {"menu", "appointment", "csat", "delivery"}
    assert set(catalog.intents) == {
        "appointment_reminder",
        "csat_survey",
        "delivery_started",
        "order_shipped",
    }


def test_check_command_prints_problems_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot check` on a bad file exits 1 and prints one `file:line: ...` line per problem."""
    flows = _write(tmp_path / "flows.yaml", FLOWS.replace("start: wait", "start: wiat"))
    folder = tmp_path / "intents"
    _write(folder / "x.yaml", "code: x\nname: X\nstart: apt\n")
    code = main(["check", "--flows", str(flows), "--intents", str(folder)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"{flows}:3: flow `appt` starts at `wiat`")
    assert lines[1].startswith(f"{folder / 'x.yaml'}:3: intent `x` starts flow `apt`")
    assert lines[2:] == ["2 problem(s) found"]


def test_check_command_accepts_the_examples(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bot check` on the examples exits 0 and prints an `ok` line, after the secrets the
    flows name and whether each is set."""
    monkeypatch.delenv("BOT_SECRET_ORDERS_API", raising=False)
    monkeypatch.setenv("BOT_SECRET_ORDERS_TOKEN", "t")
    monkeypatch.setenv("BOT_SECRET_AGENT_DESK", "https://desk.example.com")
    flows = ROOT / "flows.yaml"
    code = main(["check", "--flows", str(flows), "--intents", str(ROOT / "intents")])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert out == (
        f"{flows}: secrets the flows name: BOT_SECRET_AGENT_DESK (set), "
        "BOT_SECRET_ORDERS_API (not set), BOT_SECRET_ORDERS_TOKEN (set)\n"
        f"{flows}: ok: 4 flows, 27 states; 4 intents\n"
    )


def test_check_strict_fails_on_a_secret_that_is_not_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bot check --strict` exits 1 while a secret the flows name is unset, as `bot serve`
    would refuse to start; with both set it passes."""
    monkeypatch.delenv("BOT_SECRET_ORDERS_API", raising=False)
    monkeypatch.setenv("BOT_SECRET_ORDERS_TOKEN", "t")
    monkeypatch.setenv("BOT_SECRET_AGENT_DESK", "https://desk.example.com")
    args = ["check", "--strict", "--flows", str(ROOT / "flows.yaml"), "--intents",
            str(ROOT / "intents")]  # fmt: skip
    assert main(args) == 1
    monkeypatch.setenv("BOT_SECRET_ORDERS_API", "https://orders.example.com")
    assert main(args) == 0
    capsys.readouterr()


# -- templates: the account's catalogue ------------------------------------------------------


def test_templates_a_flow_sends_are_checked_against_the_catalogue(tmp_path: Path) -> None:
    """With `templates:`, a template not in it (with the close name), one not approved in
    a language the flow speaks, and one sent with a parameter it has not or without one it
    needs are each a problem at their line; the same flows without the catalogue load."""
    flows = """\
        templates:
          reminder: {languages: [en], category: utility, params: [date]}
          promo: {languages: [en, es], category: marketing, params: [code]}
        flows:
          f:
            start: a
            states:
              a:
                say: {en: "Hi", es: "Hola"}
                template: {code: reminder, params: {date: "x"}}  # line 10: no es
                options: [{label: {en: Go, es: Ir}, go: b}]
              b:
                template: {code: remindr, params: {date: "x"}}  # line 13: no such
                options: [{label: {en: Go, es: Ir}, go: c}]
              c:
                template: {code: promo, language: es, params: {cod: "1"}}  # line 16
        """
    problems = _problems(tmp_path, flows)
    file = tmp_path / "flows.yaml"
    assert [p.line for p in problems] == [10, 13, 16], "\n".join(map(str, problems))
    _assert_problem(problems[0], file, 10, "approved in en, not in es", "CAMS refuses")
    _assert_problem(problems[1], file, 13, "`remindr` is not in `templates:`", "`reminder`")
    _assert_problem(problems[2], file, 16, "has no parameter cod and needs code")
    bare = "\n".join(line for line in textwrap.dedent(flows).splitlines()[3:])
    (tmp_path / "alone").mkdir()
    _write(tmp_path / "alone" / "flows.yaml", bare)
    (tmp_path / "alone" / "intents").mkdir()
    load_catalog(tmp_path / "alone" / "flows.yaml", tmp_path / "alone" / "intents")


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ('media: {type: image, url: "https://{{ host }}/p.jpg"}', "a host written out"),
        ('media: {type: image, url: "http://cdn.example.com/p.jpg"}', "starts with https://"),
        ('media: {type: image, url: "{{ link }}"}', "starts with https://"),
        (
            'media: {type: image, url: "https://cdn.example.com/p.jpg", filename: a.jpg}',
            "`filename:` is for type document",
        ),
        (
            'media: {type: image, url: "https://cdn.example.com/p.jpg"}\n'
            "                buttons: true\n"
            "                options: [{label: A, go: a}]",
            "lists its options in `say:`",
        ),
        (
            'media: {type: image, url: "https://cdn.example.com/p.jpg"}\n'
            "                location: {latitude: 1, longitude: 2}",
            "not both",
        ),
    ],
)
def test_media_a_state_sends_is_checked_where_it_is_written(
    tmp_path: Path, state: str, words: str
) -> None:
    """A media URL's scheme and host are the author's (data fills its path only); a
    document's name is for documents; media goes with a text, not with buttons; a state
    sends a photo or a pin, not both."""
    flows = f"""\
        flows:
          f:
            start: a
            states:
              a:
                say: "Look."
                {state}
        """
    problem = _only(_problems(tmp_path, flows))
    assert words in problem.message, problem.message


def test_a_templates_header_and_url_button_variables_are_checked(tmp_path: Path) -> None:
    """Against `templates:`: a template with an image header sent without `header:`, a
    `header:` on one whose header is text, a `header:` on one not listed (with the close
    name), and a send without a URL button's variable or with one declared nowhere are
    each a problem at their line."""
    flows = """\
        templates:
          parcel: {languages: [en], category: utility, params: [name], header: image,
                   buttons: [url], button_params: [parcel_id]}
          notice: {languages: [en], category: utility, header: text}
        flows:
          f:
            start: a
            data: {id: "A-1"}
            states:
              a:
                template: {code: parcel, params: {name: x, parcel_id: "{{ id }}"}}
                routes: [{go: b}]
              b:
                template: {code: notice, header: "https://cdn.example.com/n.png"}
                routes: [{go: c}]
              c:
                template: {code: parcle, header: "https://cdn.example.com/p.png"}
                routes: [{go: d}]
              d:
                template:
                  code: parcel
                  header: "https://cdn.example.com/p/{{ id }}.png"
                  params: {name: x, parcle_id: "1"}
        """
    problems = _problems(tmp_path, flows)
    file = tmp_path / "flows.yaml"
    assert [p.line for p in problems] == [11, 14, 17, 23], "\n".join(map(str, problems))
    _assert_problem(problems[0], file, 11, "has an image header", "give its URL with `header:")
    _assert_problem(problems[1], file, 14, "has no media header", "its header is text")
    _assert_problem(problems[2], file, 17, "`templates:` does not list it", "`parcel`")
    _assert_problem(
        problems[3], file, 23, "has no parameter parcle_id and needs parcel_id",
        "of its URL buttons: parcel_id",
    )  # fmt: skip


def test_a_header_needs_the_catalogue_to_say_what_it_is(tmp_path: Path) -> None:
    """Without `templates:`, a template's `header:` is a problem: the catalogue says
    whether the URL is an image, a video or a document."""
    flows = """\
        flows:
          f:
            start: a
            states:
              a:
                template: {code: promo, header: "https://cdn.example.com/p.png"}
        """
    problem = _only(_problems(tmp_path, flows))
    _assert_problem(problem, tmp_path / "flows.yaml", 6, "`templates:` does not list it")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{languages: [en], category: utility, button_params: [id]}", "add `url` to `buttons:`"),
        (
            "{languages: [en], category: utility, params: [id], buttons: [url], "
            "button_params: [id]}",
            "id is in `params:` and in `button_params:`",
        ),
        (
            "{languages: [en], category: utility, header: text, header_param: pic}",
            "its header is text",
        ),
        (
            "{languages: [en], category: utility, header: video, params: [link]}",
            "`link` carries its header's URL",
        ),
    ],
)
def test_a_catalogue_entrys_variables_are_apart(tmp_path: Path, entry: str, words: str) -> None:
    """A URL button's variables need a URL button and are no body variables; the variable
    of a media header's URL is no other; a text header has no URL variable."""
    flows = f"""\
        templates:
          t: {entry}
        flows:
          f:
            start: a
            states:
              a: {{say: "Hi."}}
        """
    problem = _only(_problems(tmp_path, flows))
    assert problem.line == 2
    assert words in problem.message, problem.message


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ('"https://{{ host }}/p.png"', "a host written out"),
        ('"http://cdn.example.com/p.png"', "starts with https://"),
        ('"{{ photo }}"', "starts with https://"),
    ],
)
def test_a_header_url_is_written_as_a_media_url_is(tmp_path: Path, header: str, words: str) -> None:
    """A header's URL starts with https:// and a host written out: data after it only."""
    flows = f"""\
        templates:
          t: {{languages: [en], category: utility, header: image}}
        flows:
          f:
            start: a
            data: {{host: "", photo: ""}}
            states:
              a:
                template: {{code: t, header: {header}}}
        """
    problem = _only(_problems(tmp_path, flows))
    assert words in problem.message, problem.message


def test_what_a_state_sends_besides_its_text_is_read_at_load(tmp_path: Path) -> None:
    """A media URL, a pin's values and a template's header are texts like any other: a
    placeholder that does not parse is a problem at its line, a secret in one too."""
    flows = """\
        templates:
          t: {languages: [en], category: utility, header: document}
        flows:
          f:
            start: a
            states:
              a:
                say: "Look."
                media: {type: image, url: "https://cdn.example.com/{{ (x }}.jpg"}
                routes: [{go: b}]
              b:
                say: "Here."
                location: {latitude: "{{ secret.LAT }}", longitude: "1"}
                routes: [{go: c}]
              c:
                template: {code: t, header: "https://cdn.example.com/{{ id + }}.pdf"}
        """
    problems = _problems(tmp_path, flows)
    assert [p.line for p in problems] == [9, 13, 16], "\n".join(map(str, problems))
    assert "`media.url` of state `a`" in problems[0].message
    assert "reads a secret" in problems[1].message
    assert "`template.header` of state `c`" in problems[2].message


@pytest.mark.parametrize(
    ("state", "line", "words"),
    [
        ('say: "Hi."\n                link: {label: Go, url: "https://{{ host }}/p"}', 8,
         "a host written out"),
        ('say: "Hi."\n                link: {label: Go, url: "http://track.example.com/p"}', 8,
         "starts with https://"),
        ('say: "Hi."\n                link: {label: "Follow your parcel now", '
         'url: "https://t.example.com/"}', 8, "at most 20 characters"),
        ('say: "Hi."\n                link: {label: {en: Go, es: ""}, '
         'url: "https://t.example.com/"}', 8, "write one"),
        ('link: {label: Go, url: "https://t.example.com/"}', 6, "add `say:`"),
        ('say: "Hi."\n                link: {label: Go, url: "https://t.example.com/"}\n'
         "                options: [{label: A, go: a}]", 6, "without `options:`"),
        ('say: "Hi."\n                link: {label: Go, url: "https://t.example.com/"}\n'
         '                media: {type: image, url: "https://c.example.com/p.jpg"}', 6,
         "without `media:`"),
    ],
)  # fmt: skip
def test_a_link_is_checked_where_it_is_written(
    tmp_path: Path, state: str, line: int, words: str
) -> None:
    """A link's URL starts with https:// and a host written out; its label is a button's
    text (at most 20 characters, never empty); it goes with the state's text alone: not
    with options or media, not without `say:`. Each at the line of the link or state."""
    flows = f"""\
        flows:
          f:
            start: a
            data: {{host: ""}}
            states:
              a:
                {state}
        """
    problem = _only(_problems(tmp_path, flows))
    assert problem.line == line, problem
    assert words in problem.message, problem.message
