"""What an author writes under a state's `collect:` key: the slot, its type and the type's
constraints, checked when the flows load, with the pattern compiled and the choices indexed
once."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bot.errors import PatternError
from bot.flows.answers.messages import plain_number
from bot.flows.answers.numbers import parse_number
from bot.flows.answers.reading import normalize_text
from bot.flows.patterns import Pattern, compile_pattern
from bot.phones import region_code

SlotType = Literal[
    "text", "integer", "number", "date", "time", "phone", "email", "choice", "regex",
    "image", "document", "audio", "video", "location", "contact", "media",
]  # fmt: skip
# The types a message of its own kind answers (a photo, a file...), not a text.
MEDIA_TYPES: frozenset[str] = frozenset(
    {"image", "document", "audio", "video", "location", "contact", "media"}
)
DateOrder = Literal["DMY", "MDY", "YMD"]
# A choice as written: its value, or one mapping `value: [synonym, ...]`.
Choice = str | dict[str, list[str]]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RANGED: frozenset[str] = frozenset({"text", "integer", "number"})


class SlotSpec(BaseModel):
    """A value to collect: its slot, its type and the type's constraints.

    `choices` items are either a value (`- Small`) or a one-key mapping from the value to
    its synonyms (`- Small: [S, little]`); the value is what the slot stores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    slot: str = Field(description="Where the value is stored: an identifier.")
    type: SlotType = Field("text", description="What kind of value to accept.")
    min: float | None = Field(
        None, allow_inf_nan=False, description="integer/number: lowest value; text: length."
    )
    max: float | None = Field(
        None, allow_inf_nan=False, description="integer/number: highest value; text: length."
    )
    pattern: str | None = Field(
        None, description="regex: a regular expression (RE2 syntax) the whole answer must match."
    )
    choices: list[Choice] | None = Field(
        None, description="choice: the accepted values, each a value or `value: [synonyms]`."
    )
    default_region: str | None = Field(
        None,
        description="phone: the ISO region (US, GB, CN...) of numbers written without a "
        "country code; default: the region of the customer's own number.",
    )
    date_order: DateOrder = Field("DMY", description="date: order of day, month and year.")
    future: bool | None = Field(
        None, description="date: true = today or later; false = before today."
    )

    _regex: Pattern | None = PrivateAttr(None)
    _choice_words: dict[str, str] = PrivateAttr(default_factory=dict)
    _choice_values: tuple[str, ...] = PrivateAttr(())
    _choice_by_number: bool = PrivateAttr(True)

    @field_validator("slot")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(
                f"slot name `{value}` is not an identifier: use letters, digits and _, "
                "not starting with a digit"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_pattern(value)
            except PatternError as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return region_code(value)
        except ValueError as e:
            raise ValueError(
                f"`default_region:` is an ISO region code such as US, GB or CN (or a country "
                f"calling code such as 44): {e}"
            ) from None

    @field_validator("choices")
    @classmethod
    def _distinct_choices(cls, value: list[Choice] | None) -> list[Choice] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("`choices:` needs at least one value")
        owner: dict[str, str] = {}
        for item in value:
            if isinstance(item, dict) and len(item) != 1:
                raise ValueError(
                    "a choice with synonyms is one mapping `value: [synonym, ...]`, "
                    f"not {len(item)} keys"
                )
            canonical, words = _choice_words(item)
            if not canonical.strip():
                raise ValueError("a choice cannot be empty")
            for word in words:
                key = normalize_text(word)
                if not key:
                    raise ValueError(
                        f"choice `{canonical}`: `{word}` has no letters, digits or symbols to "
                        "match; remove it"
                    )
                if owner.get(key, canonical) != canonical:
                    raise ValueError(
                        f"`{word}` is used by two choices, `{owner[key]}` and `{canonical}`: an "
                        "answer must choose one only"
                    )
                owner[key] = canonical
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        kind = self.type
        if kind == "regex" and self.pattern is None:
            raise ValueError(
                "type regex needs `pattern:`, a regular expression the whole answer must match"
            )
        if kind == "choice" and self.choices is None:
            raise ValueError("type choice needs `choices:`, the list of accepted values")
        only: list[tuple[str, bool, str]] = [
            ("pattern", self.pattern is not None, "regex"),
            ("choices", self.choices is not None, "choice"),
            ("default_region", self.default_region is not None, "phone"),
            ("future", self.future is not None, "date"),
            ("date_order", "date_order" in self.model_fields_set, "date"),
        ]
        for key, given, owner in only:
            if given and kind != owner:
                raise ValueError(f"`{key}:` is for type {owner}, not {kind}: remove it")
        for key, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and kind not in _RANGED:
                raise ValueError(
                    f"`{key}:` is for types text (length), integer and number, not {kind}: "
                    "remove it"
                )
        self._check_bounds()
        self._compile()
        return self

    def _check_bounds(self) -> None:
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(
                f"`min:` ({plain_number(lo)}) is greater than `max:` ({plain_number(hi)})"
            )
        if self.type == "text":
            if lo is not None and (lo < 0 or not lo.is_integer()):
                raise ValueError("for type text, `min:` is a length: a whole number, 0 or more")
            if hi is not None and (hi < 1 or not hi.is_integer()):
                raise ValueError("for type text, `max:` is a length: a whole number, 1 or more")
        if (
            self.type == "integer"
            and lo is not None
            and hi is not None
            and math.ceil(lo) > math.floor(hi)
        ):
            raise ValueError(
                f"no whole number lies between `min:` ({plain_number(lo)}) and `max:` "
                f"({plain_number(hi)})"
            )

    def _compile(self) -> None:
        """Compile the pattern and index the choices once, at load time."""
        if self.pattern is not None:
            self._regex = compile_pattern(self.pattern)
        if self.choices is not None:
            values: list[str] = []
            words: dict[str, str] = {}
            for item in self.choices:
                canonical, synonyms = _choice_words(item)
                values.append(canonical)
                for word in synonyms:
                    words.setdefault(normalize_text(word), canonical)
            self._choice_values = tuple(values)
            self._choice_words = words
            self._choice_by_number = not any(parse_number(w) is not None for w in words)

    @property
    def choice_values(self) -> tuple[str, ...]:
        """The canonical values of a choice slot, in the author's order."""
        return self._choice_values

    @property
    def choice_words(self) -> Mapping[str, str]:
        """A choice slot's values and synonyms, normalized, each to the value it chooses."""
        return self._choice_words

    @property
    def chooses_by_number(self) -> bool:
        """Whether a choice slot's values are also chosen by their number (from 1): unless
        one of its values or synonyms is itself a number."""
        return self._choice_by_number

    @property
    def compiled_pattern(self) -> Pattern | None:
        """A regex slot's pattern, compiled (RE2) once when the spec loaded."""
        return self._regex


def _choice_words(item: Choice) -> tuple[str, list[str]]:
    """A choice's canonical value, and every text that chooses it (the value first)."""
    if isinstance(item, str):
        return item, [item]
    canonical, synonyms = next(iter(item.items()))
    return canonical, [canonical, *synonyms]
