"""Regular expressions written by flow authors, run on RE2.

An option's `patterns:` and a `regex` slot's `pattern:` are matched against customers'
answers. Python's `re` backtracks: `(a+)+$` takes time exponential in the length of an
answer of a's, and no bound on the answer helps. RE2 (google-re2) never backtracks: a match
takes time linear in the answer, whatever the pattern. So author patterns are compiled here,
once, at load time, and nowhere else.

RE2 reads Python's syntax but for what needs backtracking or names things otherwise;
`compile_pattern` refuses those with a `PatternError` that says what to write instead:
backreferences (`\\1`, `(?P=name)`), lookahead and lookbehind, atomic groups and possessive
repeats, conditionals, flags other than i, m, s and U, `\\Z` (RE2 writes `\\z`), `\\uXXXX`
(`\\x{XXXX}`), repeat counts over 1000. `{,n}` is refused too: Python reads it as `{0,n}`,
RE2 as the text "{,n}". What RE2 reads but matches differently (docs/flows.md): `\\d`, `\\w`,
`\\s` and `\\b` are ASCII only (`\\p{Nd}`, `\\pL`, `\\pZ` cover every script).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import re2

from bot.errors import PatternError

# `{,n}`: a lower bound left out. Start-up only: it reads the author's pattern, once.
_NO_LOWER_BOUND = re.compile(r"(?<!\\)\{,(\d+)\}")

# (what RE2's error names, what is wrong, how to fix it), first match wins.
_HINTS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(found), wrong, fix)
    for found, wrong, fix in (
        (
            r"invalid escape sequence: \\[1-9]|invalid perl operator: \(\?P$",
            "it refers back to a group (`\\1`, `(?P=name)`), which RE2 does not support",
            "match the repeated part with its own pattern",
        ),
        (
            r"invalid perl operator: \(\?<?[=!]",
            "it looks ahead or behind (`(?=`, `(?!`, `(?<=`, `(?<!`), which RE2 does not support",
            "the whole answer must match anyway: write what it may be, e.g. `[^0-9]*` for "
            "no digits",
        ),
        (
            r"invalid perl operator: \(\?>|bad repetition operator: [*+?}]\+",
            "it has an atomic group `(?>...)` or a possessive repeat (`*+`, `++`, `?+`), which "
            "RE2 does not support",
            "RE2 never backtracks, so write `(?:...)` and `*`, `+`, `?` instead",
        ),
        (
            r"invalid perl operator: \(\?\(",
            "it has a conditional `(?(...)...)`, which RE2 does not support",
            "write the alternatives with `|`",
        ),
        (
            r"invalid perl operator: \(\?",
            "it sets a flag RE2 does not know",
            "RE2 takes the flags i, m, s and U: remove the others, such as `(?x)`",
        ),
        (
            r"invalid escape sequence: \\Z",
            "`\\Z` is not RE2's end of text",
            "leave it out (the whole answer must match anyway) or write `\\z`",
        ),
        (
            r"invalid escape sequence: \\[uUN]",
            "`\\u`, `\\U` and `\\N{...}` are not RE2's escapes",
            "write a character by its code as `\\x{00E9}`, or the character itself",
        ),
        (
            r"invalid repetition size",
            "a repeat count is over RE2's 1000",
            "use `*` or `+` for longer runs, or smaller `{m,n}`",
        ),
        (
            r"pattern too large",
            "it is too large for RE2's memory budget",
            "use smaller counts in `{m,n}`, or split it into simpler patterns",
        ),
    )
)


def _options(ignore_case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # the error is raised, with a better message
    return options


def _explain(source: str, error: str) -> str:
    for found, wrong, fix in _HINTS:
        if found.search(error):
            return f"pattern `{source}`: {wrong}: {fix}"
    return f"pattern `{source}` is not a regular expression ({error}): fix it (RE2 syntax)"


@dataclass(frozen=True, slots=True)
class Match:
    """A full match of a pattern: its named groups, None for a group that took no part."""

    named: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class Pattern:
    """An author's pattern, compiled with RE2 (by `compile_pattern`). Equal patterns have the
    same source and case."""

    source: str
    ignore_case: bool
    _regexp: Any = field(repr=False, compare=False)

    @property
    def groupindex(self) -> dict[str, int]:
        """The named groups, by name, as `re.Pattern.groupindex`."""
        names: dict[str, int] = dict(self._regexp.groupindex)
        return names

    def fullmatch(self, text: str) -> Match | None:
        """The match when the pattern matches all of `text`, else None. Time linear in `text`,
        whatever the pattern. A text that is not UTF-8 (lone surrogates) matches nothing."""
        try:
            match = self._regexp.fullmatch(text)
        except UnicodeEncodeError:
            return None
        if match is None:
            return None
        named: dict[str, str | None] = match.groupdict()
        return Match(named)


def compile_pattern(source: str, *, ignore_case: bool = False) -> Pattern:
    """Compile an author's pattern with RE2 (case-insensitive with `ignore_case`).

    Raises PatternError, whose message says what is wrong and how to fix it (see the module
    docstring), for what RE2 cannot run or would read otherwise than Python."""
    if found := _NO_LOWER_BOUND.search(source):
        raise PatternError(
            f"pattern `{source}`: RE2 reads `{found[0]}` as that text, not as 0 to "
            f"{found[1]} repeats: write `{{0,{found[1]}}}`"
        )
    try:
        regexp = re2.compile(source, _options(ignore_case))
    except re2.error as e:
        detail = e.args[0] if e.args else ""
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise PatternError(_explain(source, text)) from None
    except UnicodeEncodeError:
        raise PatternError(
            f"pattern `{source!r}` holds a lone surrogate, which is not text: remove it"
        ) from None
    return Pattern(source, ignore_case, regexp)
