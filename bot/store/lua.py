"""The store's Lua scripts: each a file of `scripts/`, read from the package's data with
importlib.resources (so a wheel and an editable install find them alike) and registered
with a client, which knows each by its SHA1.

A script checks, counts and moves: it never encodes a value. What it stores are opaque
strings made in Python (bot/store/codec.py), so every stored form has one encoder and one
decoder. Each script touches the keys of one cluster slot (bot/store/keys.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

from bot.store.client import AnyPipeline, RedisClient
from bot.store.coalesce import Command

# Libraries, not scripts of their own: the scripts that write a conversation's history
# start with `scripts/history.lua` (`keep_history`), those that read its opt-outs with
# `scripts/opt_outs.lua` (`opt_out_of`).
LIBRARIES = {
    "history": frozenset({"commit", "status", "finish_send"}),
    "opt_outs": frozenset({"campaign_release", "keep_opt_out"}),
}

# Every script, by the name of its file (`scripts/NAME.lua`).
SCRIPTS = (
    "intake",
    "intake_intent",
    "commit",
    "fire",
    "finish_call",
    "status",
    "renew",
    "release",
    "retry_dead",
    "drop_dead",
    "finish_send",
    "erase",
    "acquire_permits",
    "campaign_add",
    "campaign_release",
    "campaign_cancel",
    "campaign_status",
    "campaign_forget",
    "campaign_cap",
    "campaign_due",
    "keep_opt_out",
    "waiting",
)


@functools.cache
def source(name: str) -> str:
    """The text of `scripts/NAME.lua`, after the libraries it uses."""
    if name not in SCRIPTS:
        raise ValueError(f"no script named {name!r}")
    used = [_file(library) for library, users in LIBRARIES.items() if name in users]
    return "".join(used) + _file(name)


def _file(name: str) -> str:
    return resources.files("bot.store").joinpath("scripts", f"{name}.lua").read_text("utf-8")


def register(redis: RedisClient, name: str) -> AsyncScript:
    """The script `name`, registered with `redis` (nothing is sent until it runs)."""
    return redis.register_script(source(name))


async def load(redis: RedisClient, scripts: Sequence[AsyncScript]) -> None:
    """Load scripts into Redis (after start-up or a Redis restart): on a cluster, into
    every primary."""
    for script in scripts:
        script.sha = await redis.script_load(script.script)


def evalsha(script: AsyncScript, keys: Sequence[str], *args: Any) -> Command:
    """A script's EVALSHA as a raw command, for a pipeline (see `queue_script`)."""
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def queue_script(pipe: AnyPipeline, script: AsyncScript, keys: Sequence[str], *args: Any) -> None:
    """Queue a script's EVALSHA in a pipeline without the SCRIPT EXISTS round trip that
    redis-py's script call in a pipeline costs; NoScriptError comes from `execute`. A raw
    command: redis-py's cluster pipeline refuses its `evalsha` method, not the command,
    which it sends to the node of its keys' slot like any other."""
    pipe.execute_command(*evalsha(script, keys, *args))
