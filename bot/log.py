"""Logging: named loggers per subsystem, phone numbers masked, secrets never passed in."""

from __future__ import annotations

import logging
import re
import sys

_DIGITS = re.compile(r"\+?\d{6,}")


def mask_number(value: str) -> str:
    """`8613812345678` -> `861*********8`: enough to tell numbers apart, not to call them."""
    digits = value.lstrip("+")
    if len(digits) < 6:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 4) + digits[-1]


def mask_conv(conv_id: str) -> str:
    """A conversation id with its phone numbers masked, for logs."""
    return _DIGITS.sub(lambda m: mask_number(m.group(0)), conv_id)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # transitions narrates every callback at INFO; its warnings still show.
    logging.getLogger("transitions").setLevel(logging.WARNING)
