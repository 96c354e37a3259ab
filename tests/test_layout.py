"""The layout holds: only bot/store/ talks to Redis and only bot/store/keys.py names a key;
every Lua script of bot/store/scripts/ is loaded from the package's data and run by the
store; the README's layout names files that exist."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import importlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path

from redis.asyncio import Redis

from bot.campaign import CampaignSpec, MidFlow, Status
from bot.model import CallRequest, Conversation, Inbound, IntentStart, Reply, StatusReceipt, Timer
from bot.store import (
    Accepted,
    PermitLog,
    Store,
    call_to_json,
    campaign_to_json,
    event_to_json,
    keys,
    lua,
    partition_of,
    recipient_to_json,
    reply_to_json,
)
from tests.support import BUSINESS, ROOT

BOT = ROOT / "bot"
STORE = BOT / "store"

# What a Redis key looks like in the source, once an f-string's placeholders are \x00: the
# prefix `bot:` starting it, a hash tag of the prefix, a key's middle segment, or a key's
# last one. (Message ids such as `cams:ID` are not keys: the store puts them into one.)
KEYISH = re.compile(
    r"""
      ^bot:\S
    | \{(bot|\x00):\S
    | :(seen|c|m|replay|rl|p\d*)[:{]
    | :(in|out|dead|calls|timers|lease|stats|members)$
    """,
    re.X,
)


def modules(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.rglob("*.py"))


def string_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal and f-string (placeholders as \\x00) but
    docstrings."""
    docs: set[int] = set()
    parts: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
        elif isinstance(node, ast.JoinedStr):
            parts.update(id(v) for v in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "\x00" for v in node.values)
            yield node.lineno, text
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs | parts
        ):
            yield node.lineno, node.value


def keys_named(path: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for line, text in string_literals(ast.parse(path.read_text()))
        if KEYISH.search(text)
    ]


def test_the_key_pattern_knows_every_key() -> None:
    """Every key the store names looks like a key to this test, and its module names them."""
    k = keys.Keys.of(3)
    every = [k.inbox, k.outbox, k.dead, k.calls, k.timers, k.lease, k.stats, k.conv("cams:a:b:c"),
             k.seen("cams:m-1"), k.message("t.1.0"), keys.stats_key(), keys.members_key(),
             keys.replay_key(("tencent", "s", "d")), keys.account_key("cams:x")]  # fmt: skip
    assert all(KEYISH.search(key) for key in every), every
    assert len(keys_named(STORE / "keys.py")) >= 15


def test_only_the_keys_module_names_a_redis_key() -> None:
    """No string literal or f-string of bot/ builds a Redis key but in bot/store/keys.py."""
    found = [hit for path in modules(BOT) if path != STORE / "keys.py" for hit in keys_named(path)]
    assert found == []


def test_only_the_store_imports_redis() -> None:
    """No module outside bot/store/ imports redis: it gets the client, its errors and every
    command through bot.store."""
    found = []
    for path in modules(BOT):
        if path.is_relative_to(STORE):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name == "redis" or name.startswith("redis.")
            ]
    assert found == []


# Exceptions that live beside what they carry, and why.
OWN_EXCEPTIONS = {
    # The flow-test simulator's: they carry its calls and canned answers.
    "bot/flows/tools/simulate.py": {"UnansweredCall", "UnmadeCall"},
}


def test_exceptions_live_in_the_errors_module() -> None:
    """Every exception class of bot/ is in bot/errors.py, but a module's private ones (a
    leading underscore), the fake platforms' (test doubles speaking their API's errors) and
    the few of OWN_EXCEPTIONS."""
    found = []
    for path in modules(BOT):
        where = str(path.relative_to(ROOT))
        if path.name in ("errors.py", "fake.py", "__main__.py"):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name.removesuffix(".__init__"))
        found += [
            f"{where}: {attr}"
            for attr, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
            and not attr.startswith("_")
            and attr not in OWN_EXCEPTIONS.get(where, set())
        ]
    assert found == []


def test_the_readme_layout_names_what_exists() -> None:
    """Every path the README's layout names exists, and it names the store's modules."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("- **Layout.**") :]
    layout = layout[: layout.index("\n\n")]
    paths = re.findall(r"`(bot/[\w/.]*)`", layout)
    assert paths
    assert [p for p in paths if not (ROOT / p).exists()] == []
    for name in ("keys.py", "codec.py", "scripts/"):
        assert f"bot/store/{name}" in paths, name


# -- the scripts -----------------------------------------------------------------------------


def test_every_script_file_is_a_registered_script() -> None:
    """The package's data holds one .lua file per script the store knows, and the libraries
    (history, opt-outs) that the scripts using them start with, and no other."""
    folder = resources.files("bot.store").joinpath("scripts")
    files = {f.name.removesuffix(".lua") for f in folder.iterdir() if f.name.endswith(".lua")}
    assert files == {*lua.SCRIPTS, *lua.LIBRARIES}
    calls = {"history": "keep_history(", "opt_outs": "opt_out_of("}
    for name in lua.SCRIPTS:
        assert "redis.call(" in lua.source(name), name
        own = folder.joinpath(f"{name}.lua").read_text("utf-8")
        assert lua.source(name).endswith(own), name
        for library, users in lua.LIBRARIES.items():
            assert (calls[library] in own) == (name in users), (name, library)


@contextlib.asynccontextmanager
async def scripts_run(redis: Redis) -> AsyncIterator[set[str]]:
    """The SHA1s of the scripts that Redis runs inside the block (MONITOR)."""
    seen: set[str] = set()
    done = asyncio.Event()

    async def watch() -> None:
        async with redis.monitor() as monitor:
            ready.set()
            while True:
                command = (await monitor.next_command())["command"].split(" ")
                if command[0].upper() in ("EVALSHA", "EVAL"):
                    seen.add(command[1])
                if command == ["ECHO", "scripts-run"]:
                    done.set()
                    return

    ready = asyncio.Event()
    task = asyncio.create_task(watch())
    await asyncio.wait_for(ready.wait(), 5.0)
    try:
        yield seen
        await redis.echo("scripts-run")
        await asyncio.wait_for(done.wait(), 5.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_every_script_is_loaded_and_run_by_the_store(redis: Redis) -> None:
    """Each script is loaded from its file and runs in the store's work: intake, trigger,
    commit, timer, call, send, status, lease, dead letters, the rate limit's log, erasure,
    campaigns, the opt-outs kept apart."""
    store = Store(redis, partitions=2, conversation_ttl=3600, dedup_ttl=600)
    await store.load_scripts()
    shas = {
        name: hashlib.sha1(lua.source(name).encode(), usedforsecurity=False).hexdigest()
        for name in lua.SCRIPTS
    }
    loaded = await redis.script_exists(*(shas[n] for n in lua.SCRIPTS if n != "acquire_permits"))
    assert all(loaded)
    conv = f"cams:whatsapp:{BUSINESS}:8613900000001"
    p = partition_of(conv, 2)
    now = int(time.time() * 1000)
    async with scripts_run(redis) as seen:
        await store.ensure_groups(p)
        assert await store.acquire(p, "t", 10_000)
        ev = Inbound("m1", now, "text", text="hi")
        assert await store.accept([Accepted(conv, "cams:m1", event_to_json(ev))]) == [True]
        intent = IntentStart("api:k", now, "promo")
        assert await store.accept_intent(Accepted(conv, "api:k", event_to_json(intent)), "queue")
        [(entry_id, _, _), _] = await store.read_inbox(p, pending=False, count=10, block_ms=None)
        replies = [(reply_to_json(Reply(text=t, state="s", visit=1)), f"t.1.{t}") for t in "ab"]
        call = CallRequest("forward", "POST", (("t", "http://a/"),), {}, None, 1.0, 1)
        stepped = Conversation(flow="f", state="s", visit=1, timers=(Timer("late", now),))
        res = await store.commit(
            partition=p, token="t", conv_id=conv, expected_version=0, entry_id=entry_id,
            conversation=stepped, replies=replies, calls=[call_to_json(call)],
        )  # fmt: skip
        assert res.ok
        assert await store.fire_due_timers(p, now) == 1
        [call_entry] = await store.read_calls(p, pending=False, count=10, block_ms=None)
        await store.finish_call(p, call_entry, None)
        sent, given_up = await store.read_outbox(p, pending=False, count=10, block_ms=None)
        await store.finish_send(p, sent, message_id="mid-a", visit=1)
        await store.finish_send(p, given_up, error="E: no", dead=True, visit=1)
        failed = StatusReceipt("mid-a", sent.task_id, "Failed", now, error_code="131026")
        assert await store.accept([], [(conv, failed)]) == []
        [dead] = await store.dead_letters(p)
        assert await store.retry_dead(p, dead.entry_id) == "out"
        assert await store.drop_dead(p, ["0-1"]) == 0
        assert await store.renew(p, "t", 10_000)
        await store.release(p, "t")
        granted = await PermitLog(redis, coalescer=store.coalescer).ask(
            "cams:a", [1], limit=5, window_us=1_000_000
        )
        assert granted.admitted == 1
        assert await store.keep_opt_outs() == 0  # the conversation has not opted out
        assert (await store.erase(conv)).conversation == 1
        spec = campaign_to_json(CampaignSpec(intent="promo", business=BUSINESS))
        camp = await store.new_campaign("c", spec, created_ms=now, total=2)
        convs = [conv, f"cams:whatsapp:{BUSINESS}:8613900000002"]
        rows = [(c, recipient_to_json({}, ""), now) for c in convs]
        assert await store.add_recipients(camp, rows) == 2
        assert await store.move_campaign(camp, Status.RUNNING) is Status.CREATING
        assert await store.acquire(p, "t", 10_000)
        assert camp in await store.due_campaigns(p, now)
        assert await store.settle_due(p, camp) == now
        [due] = await store.due_recipients(p, camp, now, 1)
        started = await store.release_recipient(
            p, "t", camp, due, event_json=event_to_json(intent), mid_flow=MidFlow.SKIP,
            recent_cutoff_ms=0,
        )  # fmt: skip
        assert started == "started"
        assert await store.cancel_queued(camp) == 1
        assert (await store.erase(convs[1])).campaign_recipients == 1
        assert await store.claim_recipients(BUSINESS, convs, now_ms=now, cap=1) != [0, 0]
    assert {name for name, sha in shas.items() if sha in seen} == set(lua.SCRIPTS)
