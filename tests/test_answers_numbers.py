"""Numbers in answers: the one table of number words, the readers of positions (menus,
choices) and quantities (integer and number slots), and integer and number slots."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.answers import Parsed, parse_value
from bot.flows.answers.numbers import (
    NOT_NUMBER_WORDS,
    NUMBER_WORDS,
    ORDINAL_WORDS,
    parse_number,
    parse_number_word,
    read_number,
)
from bot.flows.answers.reading import normalize_text
from bot.flows.matching import OptionIndex
from tests.answers_support import (
    ANSWER_CHARACTERS,
    TODAY,
    accepts,
    number_by_definition,
    parse,
    rejects,
    slot_spec,
)

LANGUAGES = ["en", "es", "pt", "fr", "de", "it", "zh"]


# --- menu numbers: digits ---------------------------------------------------------------


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


@given(st.text(ANSWER_CHARACTERS, max_size=16))
def test_parse_number_reads_what_stripping_the_decorations_reads(text: str) -> None:
    """A short answer's number is the one left once its opening and closing decorations go."""
    assert parse_number(text) == number_by_definition(text)


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


# --- number words -----------------------------------------------------------------------


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


@pytest.mark.parametrize("lang", LANGUAGES)
def test_number_words_cover_zero_to_twenty_and_the_tens_in_every_language(lang: str) -> None:
    """Every language has a word for each number from 0 to 20 and each round ten to 100, and
    ordinals 1 to 10, keyed in normalized form."""
    table = NUMBER_WORDS[lang]
    assert set(table.values()) == set(range(21)) | set(range(30, 101, 10))
    assert {table[word] for word in ORDINAL_WORDS[lang]} == set(range(1, 11))
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


# --- one reading in menus and slots --------------------------------------------------------

# A menu of 100 options, a choice slot of 100 values and an integer slot: where a number is
# a position (menus, choices) and where it is a quantity.
MENU_OF_100 = OptionIndex(100, {}, {})
CHOICE_OF_100 = slot_spec("choice", choices=[f"c{n}" for n in range(1, 101)])
INTEGER = slot_spec("integer")
EVERY_WORD = sorted({word for table in NUMBER_WORDS.values() for word in table})


def _menu(text: str, lang: str) -> int | None:
    """The number a menu of 100 options reads in `text`: the option's, 0, or none."""
    chosen = MENU_OF_100.match(text, lang=lang)
    number = read_number(text, lang)
    assert chosen == (None if not number else number - 1), (text, lang)
    return number


def _ordinal(word: str, lang: str) -> bool:
    """Whether `word`, read in a conversation in `lang`, is an ordinal of the table."""
    if word in NUMBER_WORDS.get(lang, {}):
        return word in ORDINAL_WORDS[lang]
    return any(
        word in ORDINAL_WORDS[other] for other in NUMBER_WORDS if word in NUMBER_WORDS[other]
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_word_of_the_table_reads_its_number_in_a_menu_and_a_slot(lang: str) -> None:
    """In its language's conversations, each word of the table is its number: a cardinal
    chooses that option of a menu and is that value in an integer slot; an ordinal chooses
    that option, and that value of a choice slot, and is no quantity."""
    for word, number in NUMBER_WORDS[lang].items():
        assert _menu(word, lang) == number, word
        value = parse_value(INTEGER, word, today=TODAY, lang=lang)
        if word in ORDINAL_WORDS[lang]:
            assert value == Parsed(False, None, "not_a_number"), word
            assert parse_value(CHOICE_OF_100, word, today=TODAY, lang=lang).value == f"c{number}"
        else:
            assert value == Parsed(True, number), word


@pytest.mark.parametrize("lang", [*LANGUAGES, "pt-BR", "es_MX", "ja", "xx"])
def test_a_word_reads_the_same_number_in_a_menu_and_a_slot_in_any_conversation(
    lang: str,
) -> None:
    """Every word of every language's table, in a conversation in any language, is the same
    number in a menu and in an integer slot (an ordinal no quantity), or no number in both."""
    for word in EVERY_WORD:
        number = _menu(word, lang)
        value = parse_value(INTEGER, word, today=TODAY, lang=lang)
        if number is None or _ordinal(word, lang):
            assert value == Parsed(False, None, "not_a_number"), (word, lang)
        else:
            assert value == Parsed(True, number), (word, lang)


@pytest.mark.parametrize(
    ("word", "number"), [("due", 2), ("zwo", 2), ("quattro", 4), ("sei", 6), ("uno", 1)]
)
@pytest.mark.parametrize("lang", ["en", "es", "it", "de"])
def test_words_a_menu_read_and_a_slot_did_not_are_numbers_in_both(
    word: str, number: int, lang: str
) -> None:
    """Italian and German words that chose a menu's option, but were no number in an integer
    slot, are the same number in both."""
    assert _menu(word, lang) == number
    assert parse_value(INTEGER, word, today=TODAY, lang=lang) == Parsed(True, number)


@pytest.mark.parametrize(
    ("word", "lang"),
    [(word, lang) for lang, words in sorted(NOT_NUMBER_WORDS.items()) for word in sorted(words)],
)
def test_an_everyday_word_is_no_number_in_a_menu_or_a_slot(word: str, lang: str) -> None:
    """A word of NOT_NUMBER_WORDS is no number in its language's conversations, in a menu
    and in an integer slot alike, and still one in another language's."""
    assert _menu(word, lang) is None
    assert parse_value(INTEGER, word, today=TODAY, lang=lang).error == "not_a_number"
    other = "it" if lang != "it" else "es"
    assert _menu(word, other) is not None


@pytest.mark.parametrize(
    ("text", "number"),
    [("二十五", 25), ("九十九", 99), ("两十", 20), ("thirty", 30), ("cent", 100)],
)
def test_chinese_numerals_and_round_tens_read_the_same_in_a_menu_and_a_slot(
    text: str, number: int
) -> None:
    """Chinese numerals to 99 and the tens to 100 are numbers of menus as of slots."""
    assert _menu(text, "en") == number
    assert parse_value(INTEGER, text, today=TODAY) == Parsed(True, number)


@pytest.mark.parametrize(("word", "lang"), [("second", "en"), ("sexta", "pt"), ("primo", "it")])
def test_ordinals_are_positions_not_quantities(word: str, lang: str) -> None:
    """An ordinal chooses an option and a choice by position, but answers no "how many?"."""
    number = _menu(word, lang)
    assert number is not None
    assert parse_value(CHOICE_OF_100, word, today=TODAY, lang=lang).value == f"c{number}"
    assert parse_value(INTEGER, word, today=TODAY, lang=lang).error == "not_a_number"
    assert parse_value(slot_spec("number"), word, today=TODAY, lang=lang).ok is False


# --- integer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("+3", 3),
        ("-3", -3),
        ("\u22123", -3),  # MINUS SIGN
        ("- 3", -3),
        ("3.0", 3),
        ("3,00", 3),
        ("3.", 3),
        ("007", 7),
        ("0", 0),
        ("\uff13", 3),  # FULLWIDTH DIGIT THREE
        ("\u0663", 3),  # ARABIC-INDIC DIGIT THREE
        ("\u06f1\u06f2", 12),  # EXTENDED ARABIC-INDIC 12
        ("1,000", 1000),
        ("1.000", 1000),
        ("1 000", 1000),
        ("1\u00a0000", 1000),  # no-break space
        ("1\u202f000", 1000),  # narrow no-break space (French)
        ("1'000", 1000),
        ("1,000,000", 1000000),
        ("1.000.000", 1000000),
        ("three", 3),
        ("Three!", 3),
        ("tres", 3),
        ("três", 3),
        ("trois", 3),
        ("drei", 3),
        ("三", 3),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("两", 2),
        ("二十五", 25),
        ("dix-sept", 17),
        ("dix sept", 17),
        ("zwölf", 12),
        ("ZWOLF", 12),
        ("dieciséis", 16),
        ("twenty", 20),
        ("fifty", 50),
        ("cien", 100),
    ],
)
def test_integer_accepts_common_ways_to_write_a_whole_number(text: str, value: int) -> None:
    """Signs, any script's digits, thousands separators and number words give an int."""
    accepts(slot_spec("integer"), text, value)


ZERO_TO_TWENTY = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
    "quince dieciséis diecisiete dieciocho diecinueve veinte",
    "pt": "zero um dois três quatro cinco seis sete oito nove dez onze doze treze catorze "
    "quinze dezesseis dezessete dezoito dezenove vinte",
    "fr": "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit dix-neuf vingt",
    "de": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn "
    "vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig",
    "zh": "零 一 二 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 十九 二十",
}


@pytest.mark.parametrize("lang", sorted(ZERO_TO_TWENTY))
def test_integer_reads_number_words_from_zero_to_twenty(lang: str) -> None:
    """Every language's words for 0-20 are read as their numbers in its conversations."""
    spec = slot_spec("integer")
    words = ZERO_TO_TWENTY[lang].split()
    assert len(words) == 21
    for number, word in enumerate(words):
        assert parse_value(spec, word, today=TODAY, lang=lang).value == number, word


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3.5", "not_a_whole_number"),
        ("3,5", "not_a_whole_number"),
        ("abc", "not_a_number"),
        ("3 people", "not_a_number"),
        ("1,5,3", "not_a_number"),
        ("1,00,000", "not_a_number"),
        ("1 00", "not_a_number"),
        ("1,000.000,5", "not_a_number"),
        ("1e5", "not_a_number"),
        ("0x10", "not_a_number"),
        ("--3", "not_a_number"),
        ("+", "not_a_number"),
        ("½", "not_a_number"),
        ("1" * 31, "not_a_number"),
        ("inf", "not_a_number"),
        ("twenty-one", "not_a_number"),
    ],
)
def test_integer_rejects_what_is_not_a_whole_number(text: str, error: str) -> None:
    """Fractions are `not_a_whole_number`; anything else unreadable is `not_a_number`."""
    rejects(slot_spec("integer"), text, error)


@pytest.mark.parametrize(
    ("fields", "text", "result"),
    [
        ({"min": 1, "max": 5}, "1", Parsed(True, 1)),
        ({"min": 1, "max": 5}, "5", Parsed(True, 5)),
        ({"min": 1, "max": 5}, "0", Parsed(False, None, "too_small")),
        ({"min": 1, "max": 5}, "6", Parsed(False, None, "too_large")),
        ({"min": 1, "max": 5}, "six", Parsed(False, None, "too_large")),
        ({"min": 1, "max": 5}, "-1", Parsed(False, None, "too_small")),
        ({"min": 0.5}, "0", Parsed(False, None, "too_small")),
        ({"max": 10}, "1,000", Parsed(False, None, "too_large")),
    ],
)
def test_integer_range_is_inclusive(fields: dict[str, Any], text: str, result: Parsed) -> None:
    """`min` and `max` are inclusive bounds; outside them is `too_small` or `too_large`."""
    assert parse(slot_spec("integer", **fields), text) == result


# --- number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("3.5", 3.5),
        ("3,5", 3.5),
        ("3,25", 3.25),
        ("-0.5", -0.5),
        ("+2.75", 2.75),
        (".5", 0.5),
        (",5", 0.5),
        ("0,500", 0.5),
        ("0.125", 0.125),
        ("3,14159", 3.14159),
        ("1234.567", 1234.567),
        ("1,000", 1000),
        ("1.000", 1000),
        ("12,345", 12345),
        ("1,000.5", 1000.5),
        ("1.000,5", 1000.5),
        ("1 000,25", 1000.25),
        ("1'000.5", 1000.5),
        ("1,234,567.89", 1234567.89),
        ("\uff13\uff0e\uff15", 3.5),  # full-width 3.5
        ("\u0663.\u0665", 3.5),
        ("3.0", 3),
        ("seven", 7),
    ],
)
def test_number_reads_decimals_with_either_separator(text: str, value: float) -> None:
    """A lone "," or "." before 3 digits groups thousands; otherwise it marks decimals."""
    result = parse(slot_spec("number"), text)
    assert result.ok, (text, result)
    assert result.value == value
    assert isinstance(result.value, int) == float(value).is_integer()


@pytest.mark.parametrize(
    "text",
    ["abc", "3.5.1", "3,5,1", "1.2.3", "nan", "NaN", "inf", "-inf", "1e3", "3..5", "3,", "."],
)
def test_number_rejects_what_is_not_a_number(text: str) -> None:
    """Malformed numbers, exponents, infinities and NaN are `not_a_number`."""
    rejects(slot_spec("number"), text, "not_a_number")


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("0", Parsed(True, 0)),
        ("99.5", Parsed(True, 99.5)),
        ("-0.01", Parsed(False, None, "too_small")),
        ("99.51", Parsed(False, None, "too_large")),
    ],
)
def test_number_range_is_inclusive(text: str, result: Parsed) -> None:
    """Decimal answers are checked against `min` and `max` inclusively."""
    assert parse(slot_spec("number", min=0, max=99.5), text) == result
