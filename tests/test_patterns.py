"""Authors' patterns on RE2: what compiles, what is refused with what to write instead, how
they match (case, ASCII classes, named groups), and the load errors that name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.errors import PatternError, SpecError
from bot.flows.loader import load_catalog
from bot.flows.matching import OptionIndex, OptionWords
from bot.flows.patterns import Match, Pattern, compile_pattern


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(r"(ab)\1", "refers back to a group (`\\1`, `(?P=name)`)", id="backreference"),
        pytest.param(r"(?P<x>a)(?P=x)", "refers back to a group", id="named-backreference"),
        pytest.param(r"a(?=b)", "looks ahead or behind", id="lookahead"),
        pytest.param(r"a(?!b)", "looks ahead or behind", id="negative-lookahead"),
        pytest.param(r"(?<=a)b", "looks ahead or behind", id="lookbehind"),
        pytest.param(r"(?<!a)b", "looks ahead or behind", id="negative-lookbehind"),
        pytest.param(r"(?>a+)b", "atomic group", id="atomic"),
        pytest.param(r"a*+b", "possessive repeat", id="possessive"),
        pytest.param(r"(a)?(?(1)b|c)", "conditional", id="conditional"),
        pytest.param(r"(?x) a b", "flags i, m, s and U", id="verbose-flag"),
        pytest.param(r"ab\Z", "write `\\z`", id="end-of-text"),
        pytest.param(r"caf\u00e9", "`\\x{00E9}`", id="unicode-escape"),
        pytest.param(r"a{1001}", "over RE2's 1000", id="repeat-count"),
        pytest.param(r"a{,3}", "write `{0,3}`", id="no-lower-bound"),
        pytest.param(r"(a", "is not a regular expression (missing ): (a)", id="syntax"),
    ],
)
def test_what_re2_cannot_run_is_refused_with_what_to_write_instead(
    source: str, message: str
) -> None:
    """A pattern RE2 does not run, or would read otherwise than Python, is a PatternError
    naming the pattern, what is wrong and how to fix it."""
    with pytest.raises(PatternError) as caught:
        compile_pattern(source)
    assert str(caught.value).startswith(f"pattern `{source}`")
    assert message in str(caught.value)


def test_a_refused_pattern_is_a_value_error() -> None:
    """PatternError is a ValueError: callers that caught bad patterns before still do."""
    with pytest.raises(ValueError, match="looks ahead"):
        compile_pattern("a(?=b)")


@pytest.mark.parametrize(
    ("source", "ignore_case", "text", "matches"),
    [
        (r"l(arge)?|xl", True, "LARGE", True),
        (r"l(arge)?|xl", False, "LARGE", False),
        (r"caf\x{e9}", True, "CAFÉ", True),
        (r"[A-Z]-\d+", False, "A-100", True),
        (r"[A-Z]-\d+", False, "A-100 ", False),
        (r"\d+", False, "\u0661\u0662", False),  # \d is ASCII
        (r"\p{Nd}+", False, "\u0661\u0662\uff11", True),  # any script's digits
        (r"\w+", False, "José", False),  # \w is ASCII
        (r"[\pL\p{Nd}_]+", False, "José_1", True),
        (r"a\sb", False, "a\u00a0b", False),  # \s is ASCII
        (r"a\pZb", False, "a\u00a0b", True),
        (r"é\b", False, "é", False),  # \b is between ASCII word characters and others
        (r".", False, "\n", False),
        (r"(?s).", False, "\n", True),
        (r"(a+)+$", False, "a" * 64 + "b", False),
    ],
)
def test_patterns_match_the_whole_text_with_re2s_classes(
    source: str, ignore_case: bool, text: str, matches: bool
) -> None:
    """A pattern matches all of the text; \\d, \\w and \\s are ASCII, \\p{...} any script."""
    assert (compile_pattern(source, ignore_case=ignore_case).fullmatch(text) is not None) is (
        matches
    )


def test_fullmatch_gives_the_named_groups() -> None:
    """A match holds its named groups, None for one that took no part; a match without named
    groups is still true."""
    pattern = compile_pattern(r"(?P<value>[A-Z]{2})-\d{3}|(?P<other>x)")
    assert pattern.groupindex == {"value": 1, "other": 2}
    assert pattern.fullmatch("AB-123") == Match({"value": "AB", "other": None})
    assert pattern.fullmatch("x") == Match({"value": None, "other": "x"})
    assert pattern.fullmatch("AB-12") is None
    assert compile_pattern(r"\s").fullmatch("\t")


def test_a_text_that_is_not_utf8_matches_nothing() -> None:
    """A text holding a lone surrogate cannot be given to RE2: it is no match, not an error."""
    assert compile_pattern("(?s).*").fullmatch("a\ud800") is None


def test_patterns_compare_by_source_and_case() -> None:
    """Two compilations of one pattern are equal; the compiled program is not compared."""
    assert compile_pattern("a+", ignore_case=True) == compile_pattern("a+", ignore_case=True)
    assert compile_pattern("a+") != compile_pattern("a+", ignore_case=True)
    assert isinstance(compile_pattern("a+"), Pattern)


def test_an_option_with_an_unsupported_pattern_names_the_option() -> None:
    """OptionIndex.build names the option whose pattern RE2 refuses."""
    with pytest.raises(PatternError, match=r"^option 2: pattern `\(a\)\\1`: it refers back"):
        OptionIndex.build([OptionWords("A", ["a"]), OptionWords("B", [], [r"(a)\1"])])


def _load_errors(tmp_path: Path, flows: str) -> list[str]:
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(flows), encoding="utf-8")
    (tmp_path / "intents").mkdir()
    with pytest.raises(SpecError) as caught:
        load_catalog(tmp_path / "flows.yaml", tmp_path / "intents")
    return [str(p) for p in caught.value.problems]


def test_an_options_unsupported_pattern_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    """A menu pattern RE2 refuses is reported as `file:line: what is wrong: how to fix it`."""
    errors = _load_errors(
        tmp_path,
        """\
        flows:
          size:
            start: ask
            states:
              ask:
                say: "Which size?"
                options:
                  - {label: Small, go: done}
                  - label: Large
                    patterns: ['l(?!ittle)\\w*']
                    go: done
              done: {say: "Got it."}
        """,
    )
    assert errors == [
        f"{tmp_path / 'flows.yaml'}:10: `options.1.patterns.0` of state `ask`: pattern "
        "`l(?!ittle)\\w*`: it looks ahead or behind (`(?=`, `(?!`, `(?<=`, `(?<!`), which RE2 "
        "does not support: the whole answer must match anyway: write what it may be, e.g. "
        "`[^0-9]*` for no digits"
    ]


def test_a_collect_pattern_re2_refuses_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    """A `collect: regex` pattern RE2 refuses is reported at the line of `pattern:`."""
    errors = _load_errors(
        tmp_path,
        """\
        flows:
          order:
            start: ask
            states:
              ask:
                say: "Your order number?"
                collect:
                  slot: order
                  type: regex
                  pattern: '([A-Z])\\1-\\d+'
                  go: done
              done: {say: "Got it."}
        """,
    )
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'flows.yaml'}:10: ")
    assert "pattern `([A-Z])\\1-\\d+`: it refers back to a group" in errors[0]
