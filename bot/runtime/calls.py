"""The call worker of one partition: makes the HTTP calls that steps committed.

`http` calls (a flow's `call:` step) feed their outcome back into the inbox as a
CallResult, in the same transaction that acks the call; `forward` calls post a customer's
message to the agent webhook. A call interrupted by a crash is made again: each carries an
`Idempotency-Key` header so the business can recognise a repeat."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl

from bot.errors import CallRefused, CallTextError
from bot.flows.calls import HttpCall, resolve
from bot.log import context
from bot.model import CallResult
from bot.runtime.drain import Consumer, drain, while_lease_in_doubt
from bot.store import Accepted, CallEntry, Store, call_from_json, event_to_json, task_prefix

log = logging.getLogger("bot.calls")

MAX_ANSWER = 1024 * 1024


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


class CallWorker(Consumer):
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

    async def run(self) -> None:
        await drain(
            lambda pending: self.store.read_calls(
                self.partition, pending=pending, count=self.batch, block_ms=self.block_ms
            ),
            lambda entry: entry.conv_id,
            self._conversation,
            consumer=self,
            log=log,
            what=f"partition {self.partition}: a call",
        )

    async def _conversation(self, entries: list[CallEntry]) -> None:
        for entry in entries:
            with context(conv_id=entry.conv_id):
                await self._call(entry)

    async def _call(self, entry: CallEntry) -> None:
        await while_lease_in_doubt(self.lease_held)  # as sends: never both owners calling
        call: HttpCall | None = None
        # Refused before any byte is sent: the flow takes its failure branch.
        try:
            req = call_from_json(entry.call_json)
            kind, method, visit = str(req.kind), req.method, int(req.visit)
            call = resolve(req, self.secrets)
        except CallRefused as e:
            kind, method, visit = e.kind, e.method, e.visit
            log.warning("call not made: %s", e)
        except (ValueError, CallTextError) as e:
            log.warning("call not made: %s", e.reason if isinstance(e, CallTextError) else e)
        # A forward per customer message, several in one visit: each needs its own key.
        call_id = f"{entry.conv_id}:{visit}:{kind}"
        if kind == "forward":
            call_id += f":{entry.entry_id}"
        outcome, status, body = (
            await self._request(call, call_id) if call is not None else ("failure", 0, None)
        )
        log.info("call %s visit=%d %s -> %s %s", kind, visit, method, outcome, status or "")
        result = None
        if kind == "http":
            event = CallResult(
                f"call:{visit}", self.clock_ms(), visit, outcome, status, body, entry.space
            )
            # Deduplicated by the call's own entry (a conversation that comes back after its
            # erasure starts its visits again), named by a digest, not the customer's
            # number: an erasure need not find it.
            dedup = f"call:{task_prefix(entry.conv_id)}:{entry.entry_id}"
            result = Accepted(entry.conv_id, dedup, event_to_json(event))
        await self.store.finish_call(self.partition, entry, result)

    async def _request(self, req: HttpCall, call_id: str) -> tuple[str, int, Any]:
        url = req.url
        headers = dict(req.headers)
        headers.setdefault("Idempotency-Key", call_id)
        send_body = req.body is not None and req.method != "GET"
        try:
            async with self.session.request(
                req.method,
                # As built: data is already encoded for where it stands (bot.flows.calls).
                yarl.URL(url, encoded=True),
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
