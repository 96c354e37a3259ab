"""How a customer's answer chooses an option: payload, then number (digits or words), then
label, keyword or synonym, then pattern."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.compiler import compile_flow
from bot.flows.matching import (
    MAX_ANSWER,
    NUMBER_WORDS,
    OptionIndex,
    OptionWords,
    find_overlaps,
    flatten_words,
    normalize_text,
    parse_number,
    parse_number_word,
    read_number,
)
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
    ("text", "number"),
    [
        ("1", 1),
        (" 1 ", 1),
        ("1.", 1),
        ("1)", 1),
        ("(1)", 1),
        ("[2]", 2),
        ("#1", 1),
        ("3:", 3),
        ("2 -", 2),
        ("1\ufe0f\u20e3", 1),  # keycap 1️⃣
        ("1\u20e3", 1),  # keycap without the variation selector
        ("\u2460", 1),  # CIRCLED DIGIT ONE
        ("\uff11", 1),  # FULLWIDTH DIGIT ONE
        ("\u0661", 1),  # ARABIC-INDIC DIGIT ONE
        ("\u06f2", 2),  # EXTENDED ARABIC-INDIC DIGIT TWO
        ("\u0968", 2),  # DEVANAGARI DIGIT TWO
        ("12", 12),
        ("007", 7),
        ("0", 0),
        ("\n3\t", 3),
    ],
)
def test_parse_number_reads_decorated_and_non_ascii_digits(text: str, number: int) -> None:
    """A number with menu decoration or in another script is read as that number."""
    assert parse_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "12abc",
        "1 2",
        "1,2",
        "1.5",
        "one",
        "-1",
        "+1",
        "1000",
        "#",
        "()",
        "\ufe0f\u20e3",
        "1st",
    ],
)
def test_parse_number_rejects_answers_that_are_not_just_a_number(text: str) -> None:
    """Anything but a lone, at most three-digit number is no number."""
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Réschedule", "reschedule"),
        ("CONFIRM!", "confirm"),
        ("  another   day?! ", "another day"),
        ("¿Sí?", "si"),
        ("«Straße»", "strasse"),
        ("👍", "👍"),
        ("  ?! ", ""),
        ("👍!", "👍"),
        ("", ""),
    ],
)
def test_normalize_text_ignores_case_accents_edge_punctuation_and_spacing(
    text: str, expected: str
) -> None:
    """Labels and answers compare in one folded form; an all-symbol answer keeps its symbols."""
    assert normalize_text(text) == expected


# The definitions that the linear readings keep: quadratic on long answers, exact on short.
_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_DECORATION = re.compile(r"^[\s(\[#]+|[\s.)\]:\-]+$")
_ANSWER_CHARACTERS = (
    " \t\n\u00a0\u3000.,!?¿-_()[]#:👍\ufe0f\u20e3\u0301\u0308éÉaZ1\u0661\u2460\uff11"
)


def _folded_by_definition(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    core = (
        _EDGES.sub("", folded)
        or "".join(
            c for c in folded if unicodedata.category(c)[0] != "P" and c not in "\ufe0e\ufe0f"
        ).strip()
    )
    return re.sub(r"\s+", " ", core)


def _number_by_definition(text: str) -> int | None:
    s = unicodedata.normalize("NFKC", text.translate({0xFE0F: None, 0x20E3: None})).strip()
    s = _DECORATION.sub("", s)
    digits = [unicodedata.decimal(c, None) for c in s]
    if not s or len(s) > 3 or None in digits:
        return None
    return int("".join(map(str, digits)))


@given(st.text(_ANSWER_CHARACTERS, max_size=24))
def test_normalize_text_keeps_what_stripping_the_edges_keeps(text: str) -> None:
    """Folding keeps the answer from its first letter or digit to its last: what stripping
    the punctuation, symbols and spaces at its edges keeps, for any answer."""
    assert normalize_text(text) == _folded_by_definition(text)


@given(st.text(_ANSWER_CHARACTERS, max_size=16))
def test_parse_number_reads_what_stripping_the_decorations_reads(text: str) -> None:
    """A short answer's number is the one left once its opening and closing decorations go."""
    assert parse_number(text) == _number_by_definition(text)


@pytest.mark.parametrize(
    "text",
    [
        "1" + "." * 16,
        "(" * 16 + "1",
        "#1" + " ." * 8,
        "option" + " " * 30 + "1",
    ],
)
def test_a_number_is_read_from_a_short_answer_only(text: str) -> None:
    """A menu number is a few characters: past 16 (32 after a prefix) the answer is none."""
    assert read_number(text) is None


def test_the_spaces_around_a_number_do_not_count_towards_its_length() -> None:
    """Surrounding whitespace is trimmed before the length is judged."""
    assert parse_number(" " * 5000 + "(1)" + "\n" * 5000) == 1
    assert read_number("\t" * 100 + "option 2" + " " * 100) == 2


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


# Number words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "word", "number"),
    [
        ("en", "one", 1),
        ("en", "Twelve", 12),
        ("en", "twenty", 20),
        ("en", "first", 1),
        ("en", "second", 2),
        ("en", "tenth", 10),
        ("es", "uno", 1),
        ("es", "una", 1),
        ("es", "un", 1),
        ("es", "dieciséis", 16),
        ("es", "veinte", 20),
        ("es", "primero", 1),
        ("es", "primera", 1),
        ("es", "tercer", 3),
        ("es", "décimo", 10),
        ("pt", "um", 1),
        ("pt", "uma", 1),
        ("pt", "duas", 2),
        ("pt", "três", 3),
        ("pt", "dezesseis", 16),
        ("pt", "dezasseis", 16),
        ("pt", "vinte", 20),
        ("pt", "primeiro", 1),
        ("pt", "primeira", 1),
        ("pt", "décima", 10),
        ("fr", "un", 1),
        ("fr", "une", 1),
        ("fr", "dix-sept", 17),
        ("fr", "dix sept", 17),
        ("fr", "vingt", 20),
        ("fr", "premier", 1),
        ("fr", "Première", 1),
        ("fr", "second", 2),
        ("fr", "dixième", 10),
        ("de", "eins", 1),
        ("de", "ein", 1),
        ("de", "zwo", 2),
        ("de", "zwölf", 12),
        ("de", "zwoelf", 12),
        ("de", "zwanzig", 20),
        ("de", "erste", 1),
        ("de", "Erster", 1),
        ("de", "ersten", 1),
        ("de", "zehnte", 10),
        ("it", "uno", 1),
        ("it", "due", 2),
        ("it", "diciannove", 19),
        ("it", "venti", 20),
        ("it", "primo", 1),
        ("it", "prima", 1),
        ("it", "decima", 10),
        ("zh", "一", 1),
        ("zh", "两", 2),
        ("zh", "十一", 11),
        ("zh", "二十", 20),
        ("zh", "第一", 1),
        ("zh", "第十", 10),
    ],
)
def test_number_words_of_each_language(lang: str, word: str, number: int) -> None:
    """Cardinals 1-20 and ordinals 1-10 read as their number in their language and any other."""
    assert parse_number_word(word, lang) == number
    assert parse_number_word(word, "xx") == number


@pytest.mark.parametrize("lang", ["en", "es", "pt", "fr", "de", "it", "zh"])
def test_number_words_cover_one_to_twenty_in_every_language(lang: str) -> None:
    """Every language has a word for each number from 1 to 20, keyed in normalized form."""
    table = NUMBER_WORDS[lang]
    assert set(table.values()) == set(range(1, 21))
    assert all(normalize_text(word) == word for word in table)


def test_no_shipped_number_word_means_two_numbers() -> None:
    """Today no word is a different number in two languages, so any language reads each alike."""
    for table in NUMBER_WORDS.values():
        for word, number in table.items():
            assert parse_number_word(word, "xx") == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("One!", 1),
        ("  UNO ", 1),
        ("Première.", 1),
        ("第一。", 1),
        ("option one", 1),
        ("número uno", 1),
        ("Nº dos", 2),
    ],
)
def test_parse_number_word_folds_the_answer_and_takes_a_prefix(text: str, number: int) -> None:
    """A number word is compared after folding, alone or after a short prefix."""
    assert parse_number_word(text, "en") == number


@pytest.mark.parametrize(
    "text", ["", "1", "option 1", "one two", "uno dos", "the first", "a", "no one", "once more"]
)
def test_parse_number_word_rejects_digits_and_phrases(text: str) -> None:
    """Digits are not words, and more than one number word is no number."""
    assert parse_number_word(text, "en") is None


FALSE_FRIENDS = {"ja": {"ni": 2}, "da": {"ni": 9}, "en": {"two": 2}}


@pytest.mark.parametrize(
    ("word", "lang", "number"),
    [
        # The conversation's language decides, in any of its spellings.
        ("ni", "ja", 2),
        ("ni", "da", 9),
        ("ni", "ja-JP", 2),
        ("ni", "DA", 9),
        ("ni", "da_DK", 9),
        # In a third language, or an unknown one, the word means no number at all.
        ("ni", "en", None),
        ("ni", "xx", None),
        # A word of one language only is read in every conversation.
        ("two", "ja", 2),
    ],
)
def test_conversation_language_breaks_ties_between_languages(
    word: str, lang: str, number: int | None
) -> None:
    """A word with different numbers in two languages takes the conversation's language's."""
    assert parse_number_word(word, lang, words=FALSE_FRIENDS) == number


@pytest.mark.parametrize(
    ("word", "lang", "number"),
    [
        # "prima" is the Italian "first", but "great" in German.
        ("prima", "it", 1),
        ("prima", "en", 1),
        ("prima", "de", None),
        ("Prima!", "de-AT", None),
        # "sei" is the Italian 6, but "I know" in Portuguese.
        ("sei", "it", 6),
        ("sei", "fr", 6),
        ("sei", "pt", None),
        ("sei", "pt-BR", None),
        # "once" is the Spanish 11, and just "once" in English.
        ("once", "es", 11),
        ("once", "en", None),
        # Another language's number words still count in a conversation.
        ("uno", "en", 1),
        ("eins", "fr", 1),
        ("第一", "pt", 1),
    ],
)
def test_everyday_words_of_the_conversation_language_are_not_numbers(
    word: str, lang: str, number: int | None
) -> None:
    """An everyday word of the conversation's language is not another language's number."""
    assert parse_number_word(word, lang) == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("(2)", 2),
        ("option 1", 1),
        ("Option 1.", 1),
        ("option1", 1),
        ("OPTION (2)", 2),
        ("opción 1", 1),
        ("opcion 2", 2),
        ("opção 3", 3),
        ("opcao 3", 3),
        ("opzione 2", 2),
        ("number 4", 4),
        ("número 5", 5),
        ("numéro 5", 5),
        ("Nummer 2", 2),
        ("no. 1", 1),
        ("No.1", 1),
        ("nº1", 1),
        ("Nº 2", 2),
        ("n° 3", 3),
        ("n.º 1", 1),
        ("Nr. 2", 2),
        ("núm. 3", 3),
        ("第1", 1),
        ("选项2", 2),
        ("option two", 2),
        ("número uno", 1),
        ("dos", 2),
        ("第三", 3),
    ],
)
def test_read_number_takes_digits_a_short_prefix_or_a_number_word(text: str, number: int) -> None:
    """An answer that is just a number, maybe after "option"/"número"/"no." etc., is read."""
    assert read_number(text, "es") == number


@pytest.mark.parametrize(
    "text",
    [
        "1 - confirm",
        "1. confirm",
        "1 confirm",
        "option 1 please",
        "I choose 1",
        "I choose 1 maybe",
        "no 1",
        "no one",
        "the first",
        "1st",
        "option",
        "number",
        "option option 1",
        "option: 1",
        "(option 1)",
        "1 2",
        "one two",
    ],
)
def test_read_number_rejects_answers_that_say_more_than_a_number(text: str) -> None:
    """A number inside a phrase is no number: the answer must be essentially just the number."""
    assert read_number(text) is None


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
