"""The call worker of one partition: makes the HTTP calls that steps committed.

`http` calls (a flow's `call:` step) feed their outcome back into the inbox as a
CallResult, in the same transaction that acks the call; `forward` calls post a customer's
message to the agent webhook. A call interrupted by a crash is made again: each carries an
`Idempotency-Key` header so the business can recognise a repeat."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.log import context
from bot.model import CallRequest, CallResult, event_to_json
from bot.runtime.drain import drain, while_lease_in_doubt
from bot.store import Accepted, CallEntry, Store

log = logging.getLogger("bot.calls")

_SECRET = re.compile(r"\$\{secret:([A-Za-z0-9_]+)\}")
MAX_ANSWER = 1024 * 1024


class MissingSecret(Exception):  # a reason for a failed call, not a crash
    pass


def fill_secrets(value: str, secrets: Mapping[str, str]) -> str:
    """Replace `${secret:NAME}` tokens with the values of BOT_SECRET_NAME."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in secrets:
            raise MissingSecret(name)
        return secrets[name]

    return _SECRET.sub(one, value)


def _host(url: str) -> str:
    """The host of a URL, for a log line: not its credentials, path or query."""
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(not a URL)"


async def _read_answer(resp: aiohttp.ClientResponse) -> bytes:
    """The answer's body, up to MAX_ANSWER bytes. (One `read(n)` returns what has arrived
    so far, which for an answer sent in several pieces is only its beginning.)"""
    parts: list[bytes] = []
    size = 0
    while size < MAX_ANSWER:
        chunk = await resp.content.read(MAX_ANSWER - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


class CallWorker:
    def __init__(
        self,
        store: Store,
        session: aiohttp.ClientSession,
        partition: int,
        *,
        secrets: Mapping[str, str],
        clock_ms: Callable[[], int],
        batch: int = 50,
        block_ms: int = 1000,
        lease_held: Callable[[], bool] | None = None,
    ) -> None:
        self.lease_held = lease_held
        self.store = store
        self.session = session
        self.partition = partition
        self.secrets = secrets
        self.clock_ms = clock_ms
        self.batch = batch
        self.block_ms = block_ms
        self.stopping = False

    async def run(self) -> None:
        await drain(
            lambda pending: self.store.read_calls(
                self.partition, pending=pending, count=self.batch, block_ms=self.block_ms
            ),
            lambda entry: entry.conv_id,
            self._conversation,
            stopping=lambda: self.stopping,
            log=log,
            what=f"partition {self.partition}: a call",
        )

    async def _conversation(self, entries: list[CallEntry]) -> None:
        for entry in entries:
            with context(conv_id=entry.conv_id):
                await self._call(entry)

    async def _call(self, entry: CallEntry) -> None:
        await while_lease_in_doubt(self.lease_held)  # as sends: never both owners calling
        req = CallRequest.from_dict(json.loads(entry.call_json))
        # A forward per customer message, several in one visit: each needs its own key.
        call_id = f"{entry.conv_id}:{req.visit}:{req.kind}"
        if req.kind == "forward":
            call_id += f":{entry.entry_id}"
        outcome, status, body = await self._request(req, call_id)
        log.info(
            "call %s visit=%d %s -> %s %s", req.kind, req.visit, req.method, outcome, status or ""
        )
        result = None
        if req.kind == "http":
            event = CallResult(
                f"call:{req.visit}", self.clock_ms(), req.visit, outcome, status, body, entry.space
            )
            result = Accepted(
                entry.conv_id, f"call:{entry.conv_id}:{req.visit}", event_to_json(event)
            )
        await self.store.finish_call(self.partition, entry, result)

    async def _request(self, req: CallRequest, call_id: str) -> tuple[str, int, Any]:
        try:
            url = fill_secrets(req.url, self.secrets)
            headers = {k: fill_secrets(v, self.secrets) for k, v in req.headers.items()}
        except MissingSecret as e:
            log.error("call needs BOT_SECRET_%s, which is not set", e.args[0])
            return "failure", 0, None
        headers.setdefault("Idempotency-Key", call_id)
        send_body = req.body is not None and req.method != "GET"
        try:
            async with self.session.request(
                req.method,
                url,
                json=req.body if send_body else None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=req.timeout_s),
                allow_redirects=False,
            ) as resp:
                raw = await _read_answer(resp)
                status = resp.status
        except TimeoutError:
            return "timeout", 0, None
        except (aiohttp.ClientError, ValueError, OSError) as e:
            # The host only: a path or query may name the customer.
            log.warning("call %s %s failed: %s", req.method, _host(url), type(e).__name__)
            return "failure", 0, None
        try:
            body: Any = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        return ("success" if 200 <= status < 300 else "failure"), status, body
