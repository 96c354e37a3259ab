"""URLs a message carries: a photo's or a document's (`media:`), a template's header, a link
button's (`link:`). The platform fetches the first two; the customer opens the last.

The flow author writes the scheme and the host (`https://` and a host written out, then its
`/`: `bot.flows.spec` refuses anything else at load time), and data fills only what comes
after. Each placeholder's value is percent-encoded whole (every character but RFC 3986's
unreserved ones, `/`, `?`, `#`, `&`, `=` and `%` included), so a customer's data can neither
choose where a URL leads nor add a path segment, a query parameter or a fragment: `../x?y#z`
stays one segment, `..%2Fx%3Fy%23z`. The author's text goes as written, but for spaces and
characters outside ASCII, which are encoded.

The same encoding makes a value one path segment where a template's URL button carries it
(`segment`): the template's URL is the approved one; only its dynamic part is ours.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from bot.errors import ExprError
from bot.flows.expr import Env, show
from bot.flows.expr import Template as TextTemplate

# Characters of a URL that keep their meaning (RFC 3986 reserved) and '%' of escapes already
# written: the author's text keeps them; anything else (spaces, non-ASCII) is encoded.
URL_KEEP = ":/?#[]@!$&'()*+,;=%~"
# `https://`, a host (and port) written out, and the `/` that ends them: what a URL a
# message carries starts with; data may stand only after it.
_WRITTEN_BASE = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[^{]*")


def base_written(url: str) -> bool:
    """True when `url`, as the author wrote it, starts with `https://` and a host written
    out, then `/`: no placeholder stands in its scheme or host."""
    return _WRITTEN_BASE.match(url) is not None and "{{" not in url.split("/", 3)[2]


def segment(value: str) -> str:
    """`value` as one path segment (or one query key or value): everything but RFC 3986's
    unreserved characters percent-encoded (UTF-8)."""
    return quote(value, safe="")


def render_url(url: TextTemplate, env: Env) -> str:
    """The URL for one step: the author's text as written (spaces and non-ASCII encoded),
    each placeholder's value encoded whole (`segment`). Raises ExprError from a placeholder."""
    out: list[str] = []
    for piece in url.pieces:
        if isinstance(piece, str):
            out.append(quote(piece, safe=URL_KEEP))
            continue
        try:
            value = show(piece.evaluate(env))
        except ValueError as e:  # str() of an integer of more than 4300 digits
            raise ExprError(url.source, f"cannot show the value: {e}") from e
        out.append(segment(value))
    return "".join(out)
