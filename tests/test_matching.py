"""How a customer's answer chooses an option: payload, then number (digits or words), then
label, keyword or synonym, then pattern."""

from __future__ import annotations

import pytest

from bot.flows.answers.numbers import parse_number_word, read_number
from bot.flows.answers.reading import MAX_ANSWER
from bot.flows.compiler import compile_flow
from bot.flows.matching import OptionIndex, OptionWords, find_overlaps, flatten_words
from bot.flows.spec import FlowSpec


def _index(options: list[dict[str, object]]) -> OptionIndex:
    """The option index of a state, compiled as at start-up."""
    spec = FlowSpec.model_validate(
        {"start": "ask", "states": {"ask": {"say": "Pick one", "options": options}}}
    )
    return compile_flow("menu", spec).states["ask"].index


MENU = _index(
    [
        {"label": "Confirm", "keywords": ["yes", "ok"], "payload": "CONFIRM", "go": "ask"},
        {"label": "Reschedule", "keywords": ["another  day"], "go": "ask"},
        {"label": {"en": "Cancel", "es": "Cancelar"}, "keywords": ["no"], "go": "ask"},
    ]
)


@pytest.mark.parametrize(
    "text",
    [
        "1" + " " * MAX_ANSWER,
        "yes" + "!" * MAX_ANSWER,
        " ." * (MAX_ANSWER // 2) + "x",
    ],
)
def test_an_answer_longer_than_max_answer_chooses_nothing_but_its_payload(text: str) -> None:
    """Over MAX_ANSWER characters an answer is no number, word or pattern; a payload is."""
    index = _index([{"label": "Any", "patterns": ["(?s).*"], "payload": "ANY", "go": "ask"}])
    assert index.match(text[: MAX_ANSWER - 1]) == 0
    assert index.match(text) is None
    assert index.match(text, payload="ANY") == 0
    assert read_number(text) is None
    assert parse_number_word(text, "en") is None


MENU_CASES: list[tuple[str, str | None, int | None]] = [
    # By number: the option's position, from 1.
    ("1", None, 0),
    ("2.", None, 1),
    ("(3)", None, 2),
    ("3\ufe0f\u20e3", None, 2),
    ("\uff12", None, 1),
    ("\u0663", None, 2),
    # Out of range is no match, never clamped to the first or last option.
    ("0", None, None),
    ("4", None, None),
    ("99", None, None),
    # Not just a number: no match by number, and no label is a number.
    ("12abc", None, None),
    ("1 2", None, None),
    ("", None, None),
    ("   ", None, None),
    # By label or keyword, ignoring case, accents, edge punctuation, repeated spaces.
    ("Confirm", None, 0),
    ("CONFIRM!", None, 0),
    ("confirm.", None, 0),
    ("réschedule", None, 1),
    ("RESCHEDULE", None, 1),
    ("Another day", None, 1),
    ("another    day!", None, 1),
    ("yes", None, 0),
    ("Ok 👍", None, 0),
    ("no", None, 2),
    # Every language's label counts.
    ("cancel", None, 2),
    ("CANCELAR", None, 2),
    # A word inside a longer answer is not a match.
    ("yes please", None, None),
    ("maybe", None, None),
    ("?", None, None),
    ("👍", None, None),
]


@pytest.mark.parametrize(("text", "payload", "chosen"), MENU_CASES)
def test_match_by_number_label_or_keyword(
    text: str, payload: str | None, chosen: int | None
) -> None:
    """A typed answer chooses an option by number, label or keyword, or nothing."""
    assert MENU.match(text, payload) == chosen


PAYLOAD_CASES: list[tuple[str, str | None, int | None]] = [
    # An explicit payload, and the default FLOW.STATE.NUMBER one.
    ("Confirm", "CONFIRM", 0),
    ("", "menu.ask.2", 1),
    ("", "menu.ask.3", 2),
    # The payload wins over the text: a button of option 2 with text "1" is option 2.
    ("1", "menu.ask.2", 1),
    ("Cancel", "CONFIRM", 0),
    # A payload is exact: no folding.
    ("", "confirm", None),
    # An unknown payload falls back to the text.
    ("1", "OLD-PAYLOAD", 0),
    ("Reschedule", "menu.ask.9", 1),
    ("nothing", "OLD-PAYLOAD", None),
    ("", "OLD-PAYLOAD", None),
]


@pytest.mark.parametrize(("text", "payload", "chosen"), PAYLOAD_CASES)
def test_payload_takes_precedence_over_text(text: str, payload: str, chosen: int | None) -> None:
    """A known payload decides alone; an unknown one falls back to the text."""
    assert MENU.match(text, payload) == chosen


def test_text_is_never_read_as_a_payload() -> None:
    """Text that looks like a payload is only text: numbers, labels and keywords decide."""
    assert MENU.match("CONFIRM") == 0
    assert MENU.match("menu.ask.2") is None


EMOJI = _index(
    [{"label": "👍", "go": "ask"}, {"label": "👎", "go": "ask"}, {"label": "Later", "go": "ask"}]
)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("👍", 0),
        (" 👎 ", 1),
        ("👎!", 1),
        ("👍\ufe0f", 0),
        ("?", None),
        ("...", None),
        ("👌", None),
        ("👍👍", None),
        ("2", 1),
    ],
)
def test_all_symbol_labels_are_told_apart(text: str, chosen: int | None) -> None:
    """Labels made only of emoji match exactly themselves; other symbols match none."""
    assert EMOJI.match(text) == chosen


def test_a_blank_label_is_matched_by_no_answer() -> None:
    """A label that folds to nothing is not matched by a blank or all-space answer."""
    index = _index([{"label": " ", "go": "ask"}, {"label": "Stop", "go": "ask"}])
    assert index.match(" ") is None
    assert index.match("\t") is None
    assert index.match("1") == 0


# Building an index: synonyms and patterns -------------------------------------------------


def _built(*options: OptionWords, flow_lang: str = "en") -> OptionIndex:
    """An index built from option words, as the compiler does at start-up."""
    return OptionIndex.build(options, flow_lang=flow_lang)


def test_flatten_words_takes_words_lists_and_words_per_language() -> None:
    """Labels, keywords and per-language synonyms flatten to one list, in order, each once."""
    words = flatten_words(
        {"en": "Confirm", "es": "Confirmar"}, ["yes", "ok"], {"en": ["yep", "ok"], "es": "vale"}
    )
    assert words == ("Confirm", "Confirmar", "yes", "ok", "yep", "vale")


SYNONYMS = _built(
    OptionWords("YES", flatten_words("Confirm", {"en": ["yep", "sure"], "es": ["vale", "sí"]})),
    OptionWords("NO", flatten_words("Cancel", {"pt": ["não", "nada"], "fr": "annuler"})),
)


@pytest.mark.parametrize(
    ("text", "lang", "chosen"),
    [
        ("yep", "en", 0),
        ("Sure!", "en", 0),
        ("vale", "es", 0),
        ("SI", "es", 0),
        ("nao", "pt", 1),
        ("Annuler", "fr", 1),
        # Synonyms of every language choose in every conversation, as labels do.
        ("vale", "en", 0),
        ("annuler", "de", 1),
        ("nada", "zh", 1),
        # Only a whole answer.
        ("yep please", "en", None),
    ],
)
def test_synonyms_choose_their_option_in_any_language(
    text: str, lang: str, chosen: int | None
) -> None:
    """A synonym, given per language, chooses its option like a keyword."""
    assert SYNONYMS.match(text, lang=lang) == chosen


PATTERNS = _built(
    OptionWords("ZIP", ["zip"], [r"^\d{5}$", r"\d{5}-\d{4}"]),
    OptionWords("YES", ["Confirm"], ["ye+s+", "y(ea|u)p"]),
    OptionWords("WHEN", ["Later"], [r"(at )?\d{1,2}(:\d\d)? ?(am|pm)"]),
)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("12345", 0),
        ("  12345\n", 0),
        ("12345-6789", 0),
        ("1234", None),
        ("123456", None),
        ("my zip is 12345", None),
        ("yes", 1),
        ("YESSS", 1),
        ("yeeees", 1),
        ("Yup", 1),
        ("yes please", None),
        ("at 10am", 2),
        ("9:30 PM", 2),
        ("tomorrow at 10am", None),
        # A pattern sees the trimmed text as typed, not the folded text.
        ("yes!", None),
        ("¡yes!", None),
    ],
)
def test_patterns_fully_match_the_trimmed_answer_ignoring_case(
    text: str, chosen: int | None
) -> None:
    """A reply that re.fullmatches an option's pattern, case-insensitively, chooses it."""
    assert PATTERNS.match(text) == chosen


def test_patterns_of_two_options_choose_the_first() -> None:
    """When patterns of two options match, the first option in order is chosen."""
    index = _built(OptionWords("A", [], ["x+"]), OptionWords("B", [], [".*", "x"]))
    assert index.match("xx") == 0
    assert index.match("y") == 1


def test_a_blank_answer_matches_no_pattern() -> None:
    """A pattern that matches the empty string does not choose an option for a blank answer."""
    index = _built(OptionWords("A", [], [".*"]))
    assert index.match("") is None
    assert index.match("  \n") is None
    assert index.match("anything") == 0


def test_build_rejects_a_pattern_that_is_not_a_regular_expression() -> None:
    """An invalid pattern fails at start-up, naming the option and the pattern."""
    with pytest.raises(ValueError, match=r"option 2: pattern `\(unclosed` is not a regular"):
        _built(OptionWords("A", ["a"]), OptionWords("B", ["b"], ["(unclosed"]))


def test_build_keeps_the_first_option_for_a_shared_word_or_payload() -> None:
    """A duplicated word or payload belongs to the first option; the loader reports it."""
    index = _built(OptionWords("P", ["Yes", "later"]), OptionWords("P", ["yes!", "Later", "maybe"]))
    assert index.count == 2
    assert index.match("YES") == 0
    assert index.match("later") == 0
    assert index.match("maybe") == 1
    assert index.match("", "P") == 0


def test_build_skips_blank_words() -> None:
    """A word that folds to nothing is matched by no answer."""
    index = _built(OptionWords("A", [" ", "?"]), OptionWords("B", ["Stop"]))
    assert index.by_word == {"stop": 1}
    assert index.match(" ") is None


def test_build_precomputes_folded_words_and_compiled_patterns() -> None:
    """Everything match needs is folded and compiled once, when the index is built."""
    index = _built(OptionWords("A", ["Réschedule  Now"], ["ok+"]))
    assert index.by_word == {"reschedule now": 0}
    assert [(i, p.source, p.ignore_case) for i, p in index.patterns] == [(0, "ok+", True)]


BUILT_MENU = _built(
    OptionWords("CONFIRM", ["Confirm", "yes", "ok"]),
    OptionWords("menu.ask.2", ["Reschedule", "another  day"]),
    OptionWords("menu.ask.3", ["Cancel", "Cancelar", "no"]),
)


@pytest.mark.parametrize(("text", "payload", "chosen"), MENU_CASES + PAYLOAD_CASES)
def test_built_index_matches_like_the_compiled_one(
    text: str, payload: str | None, chosen: int | None
) -> None:
    """An index built from option words chooses exactly as the compiled menu does."""
    assert BUILT_MENU.match(text, payload) == chosen
    assert MENU.match(text, payload) == chosen


# Precedence -------------------------------------------------------------------------------

CHAIN = _built(
    # Option 1's keyword "dos" is also the number 2; its pattern takes any three letters.
    OptionWords("FIRST", ["Alpha", "dos"], ["[a-z]{3}"]),
    # Option 2's keyword "uno" is the number 1, and "ten" is a number too many.
    OptionWords("SECOND", ["Beta", "uno", "ten", "abc"], [r"\d+"]),
    # Option 3's keyword "prima" is the Italian "first".
    OptionWords("THIRD", ["Gamma", "prima"], ["g.*"]),
)


@pytest.mark.parametrize(
    ("text", "payload", "lang", "chosen"),
    [
        # payload > number: a button of option 3 whose text is "1".
        ("1", "THIRD", "en", 2),
        ("uno", "THIRD", "en", 2),
        # number > word: "uno" is option 2's keyword but the number 1; "dos" the reverse.
        ("uno", None, "en", 0),
        ("dos", None, "es", 1),
        ("option 2", None, "en", 1),
        # A number that names no option is not a choice by number: the word rule decides.
        ("ten", None, "en", 1),
        # The conversation's language decides whether "prima" is a number or a word.
        ("prima", None, "it", 0),
        ("prima", None, "de", 2),
        # word > pattern: "abc" is option 2's word and matches option 1's pattern.
        ("abc", None, "en", 1),
        ("xyz", None, "en", 0),
        # number > pattern: "2" is a menu number before it is option 2's digits.
        ("3", None, "en", 2),
        ("7", None, "en", 1),
        ("0", None, "en", 1),
        # A pattern takes what no earlier rule took; of two options' patterns, the first's.
        ("gam", None, "en", 0),
        ("golf course", None, "en", 2),
        ("nothing", None, "en", None),
    ],
)
def test_precedence_is_payload_then_number_then_word_then_pattern(
    text: str, payload: str | None, lang: str, chosen: int | None
) -> None:
    """When two rules would choose differently, the earlier rule in the chain wins."""
    assert CHAIN.match(text, payload, lang) == chosen


def test_match_without_a_language_uses_the_flows() -> None:
    """Without the conversation's language, number words are read in the flow's language."""
    german = _built(OptionWords("A", ["Gut"]), OptionWords("B", ["Ja"]), flow_lang="de")
    assert german.flow_lang == "de"
    assert german.match("prima") is None
    assert german.match("prima", lang="it") == 0
    assert german.match("zwei") == 1
    assert german.match("two") == 1


# The old constructor ----------------------------------------------------------------------


def test_the_old_constructor_still_matches_and_now_reads_number_words() -> None:
    """OptionIndex(count, by_payload, by_word) works as before, plus number words in English."""
    index = OptionIndex(3, {"GO": 2}, {"yes": 0, "later": 1})
    assert index.patterns == ()
    assert index.flow_lang == "en"
    assert index.match("yes") == 0
    assert index.match("2") == 1
    assert index.match("", "GO") == 2
    assert index.match("4") is None
    assert index.match("three") == 2
    assert index.match("uno") == 0
    assert index.match("dos", None, "es") == 1
    assert index.match("nothing") is None


# Overlaps for the linter ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "overlaps"),
    [
        pytest.param(
            [OptionWords("A", ["Yes", "ok"]), OptionWords("B", ["No", "later"])],
            [],
            id="none",
        ),
        pytest.param(
            [OptionWords("A", ["Sí"]), OptionWords("B", ["no"]), OptionWords("C", ["si!"])],
            [(2, 0, "option 3's word 'si!' is also option 1's word 'Sí', which chooses option 1")],
            id="same word once normalized",
        ),
        pytest.param(
            [OptionWords("A", ["Yes"]), OptionWords("B", ["Uno"])],
            [
                (
                    1,
                    0,
                    "option 2's word 'Uno' is also the number 1 in es, it, which chooses option 1",
                )
            ],
            id="keyword is a number word",
        ),
        pytest.param(
            [OptionWords("A", ["first"]), OptionWords("B", ["Beta"])],
            [],
            id="own number word",
        ),
        pytest.param(
            [OptionWords("A", ["a"]), OptionWords("B", ["b"]), OptionWords("C", ["once"])],
            [],
            id="number word out of range",
        ),
        pytest.param(
            [OptionWords("A", ["a"]), OptionWords("B", ["option 1", "1"])],
            [
                (1, 0, "option 2's word 'option 1' is also the number 1, which chooses option 1"),
                (1, 0, "option 2's word '1' is also the number 1, which chooses option 1"),
            ],
            id="keyword is digits",
        ),
        pytest.param(
            [OptionWords("ZIP", [], [r"\d{5}"]), OptionWords("B", ["12345", "Beta"])],
            [
                (
                    1,
                    0,
                    r"option 2's word '12345' also matches option 1's pattern '\d{5}'; "
                    "the word wins",
                )
            ],
            id="word matches another option's pattern",
        ),
        pytest.param(
            [OptionWords("A", ["Sí"]), OptionWords("B", ["b"], ["si+"])],
            [(0, 1, "option 1's word 'Sí' also matches option 2's pattern 'si+'; the word wins")],
            id="folded word matches a pattern",
        ),
        pytest.param(
            [OptionWords("A", ["yes"], ["y.*"])],
            [],
            id="own pattern",
        ),
        pytest.param(
            [OptionWords("A", ["a"]), OptionWords("B", ["b"]), OptionWords("C", [], [r"\d"])],
            [
                (
                    2,
                    0,
                    r"option 3's pattern '\d' also matches '1', the number of option 1; "
                    "the number wins",
                ),
                (
                    2,
                    1,
                    r"option 3's pattern '\d' also matches '2', the number of option 2; "
                    "the number wins",
                ),
            ],
            id="pattern matches menu numbers",
        ),
    ],
)
def test_find_overlaps(options: list[OptionWords], overlaps: list[tuple[int, int, str]]) -> None:
    """Shared words, words that are numbers or match others' patterns, are reported with why."""
    assert find_overlaps(options) == overlaps


def test_find_overlaps_is_pure() -> None:
    """Finding overlaps changes nothing and gives the same answer twice."""
    options = (OptionWords("A", ("uno",)), OptionWords("B", ("uno",)))
    first = find_overlaps(options)
    assert find_overlaps(options) == first
    assert options == (OptionWords("A", ("uno",)), OptionWords("B", ("uno",)))
    assert [(i, j) for i, j, _ in first] == [(1, 0), (1, 0)]


def test_find_overlaps_rejects_a_pattern_that_is_not_a_regular_expression() -> None:
    """An invalid pattern is an error, as at build time."""
    with pytest.raises(ValueError, match="option 1"):
        find_overlaps([OptionWords("A", [], ["[z-a]"])])
