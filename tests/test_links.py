"""URLs a message carries (bot.flows.links): the author's scheme and host, data encoded
whole wherever it stands, so that it changes no URL's structure."""

from __future__ import annotations

import pytest

from bot.errors import ExprError
from bot.flows.expr import Template as TextTemplate
from bot.flows.links import base_written, render_url, segment

HOSTILE = "../x?y#z"


def test_data_is_one_segment_wherever_it_stands() -> None:
    """A value with `../`, `/`, `?`, `#`, `&`, `=` and `%` stays one path segment, one query
    value, one fragment: nothing of it reads as the URL's structure."""
    url = TextTemplate.parse("https://cdn.example.com/p/{{ v }}.jpg?size={{ v }}#{{ v }}")
    assert render_url(url, {"v": HOSTILE}) == (
        "https://cdn.example.com/p/..%2Fx%3Fy%23z.jpg?size=..%2Fx%3Fy%23z#..%2Fx%3Fy%23z"
    )
    assert render_url(url, {"v": "a&b=c%2F"}).split("?")[1] == "size=a%26b%3Dc%252F#a%26b%3Dc%252F"
    assert segment(HOSTILE) == "..%2Fx%3Fy%23z"


def test_the_authors_text_goes_as_written_but_spaces_and_non_ascii() -> None:
    """The author's `/`, `?`, `&`, `=` and escapes keep their meaning; a space or a letter
    outside ASCII is encoded, in the text and in data alike (UTF-8); a number shows as
    text; a missing value is empty."""
    url = TextTemplate.parse("https://cdn.example.com/año 1/{{ n }}/{{ who }}?a=1&b=%20")
    assert render_url(url, {"n": 3.0, "who": "José"}) == (
        "https://cdn.example.com/a%C3%B1o%201/3/Jos%C3%A9?a=1&b=%20"
    )
    assert render_url(url, {"n": None, "who": ""}).endswith("/a%C3%B1o%201//?a=1&b=%20")


def test_a_placeholder_that_cannot_be_read_raises() -> None:
    """A value that cannot be shown (or read) is an ExprError, as texts raise it."""
    with pytest.raises(ExprError):
        render_url(TextTemplate.parse("https://a.example.com/{{ 1 / 0 }}"), {})


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("https://cdn.example.com/{{ x }}", True),
        ("https://cdn.example.com:8443/a/{{ x }}?q={{ y }}", True),
        ("https://cdn.example.com/", True),
        ("https://cdn.example.com", False),  # no `/` ends the host: data could extend it
        ("https://cdn.example.com{{ x }}/", False),
        ("https://{{ host }}/p.jpg", False),
        ("https://cdn.{{ x }}.com/p.jpg", False),
        ("http://cdn.example.com/p.jpg", False),
        ("{{ url }}", False),
        ("https://user@cdn.example.com/p.jpg", False),
    ],
)
def test_only_a_written_https_host_may_start_a_url(url: str, written: bool) -> None:
    """`https://`, a host (and port) written out and its `/`: data may stand only after."""
    assert base_written(url) is written
