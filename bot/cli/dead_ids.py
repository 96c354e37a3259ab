"""The id by which `bot dlq` names a dead letter: `PARTITION-STREAMID`, e.g.
`3-1700000000000-0`, read from the command line and split into the store's partition and
stream entry id."""

from __future__ import annotations

import argparse
import re

_DEAD_ID = re.compile(r"(\d+)-(\d+-\d+)")


def dead_id(partition: int, entry_id: str) -> str:
    return f"{partition}-{entry_id}"


def dead_letter_id(text: str) -> str:
    """An id as `bot dlq` takes it (argparse type): `PARTITION-MS-SEQ`."""
    if not _DEAD_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a dead letter id (PARTITION-STREAMID, e.g. 3-1700000000000-0)"
        )
    return text


def split_dead_id(text: str) -> tuple[int, str]:
    match = _DEAD_ID.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)), match.group(2)
