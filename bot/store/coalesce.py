"""Coalescing of Redis commands: the commands that tasks issue during one iteration of the
event loop go out together, as one pipeline without MULTI (one round trip; on a cluster, one
per node, all at once), rather than one round trip each.

A caller queues its commands and awaits a future; the first command queued in an iteration
starts the task that sends them, whose first step the loop runs in its next iteration (a
task's steps are scheduled with `loop.call_soon`): it takes everything queued by then, so
nothing waits past the current iteration, and no hop more than that. Each
command keeps its own result or error (`execute(raise_on_error=False)`): a script refused
(stale version, a ResponseError) fails its caller alone. A script missing from Redis
(NOSCRIPT: a restart, a failover) makes the coalescer load the scripts and send again just
the commands that met it. A connection error fails every caller of that pipeline with it. A
flush is split into pipelines of at most `max_commands` commands, sent side by side.

Atomicity is each command's own: a script is atomic, a pipeline is not (and needs not be).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bot.store.client import RedisClient

MAX_COMMANDS = 500  # commands per pipeline

Command = tuple[Any, ...]


@dataclass(slots=True)
class _Call:
    commands: Sequence[Command]
    future: asyncio.Future[list[Any]]


class Coalescer:
    """Sends the commands queued during one loop iteration as one pipeline. Belongs to one
    event loop (the running one when made); `round_trips` counts the pipelines sent."""

    def __init__(
        self,
        redis: RedisClient,
        load_scripts: Callable[[], Awaitable[None]],
        *,
        max_commands: int = MAX_COMMANDS,
        round_trips: int = 0,
    ) -> None:
        self.redis = redis
        self.load_scripts = load_scripts
        self.max_commands = max_commands
        self.round_trips = round_trips
        self.loop = asyncio.get_running_loop()
        self._queue: list[_Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def execute(self, *command: Any) -> Any:
        """Run one command with the others of this iteration: its result, or its error."""
        [result] = await self.submit([command])
        if isinstance(result, Exception):
            raise result
        return result

    def submit(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Queue commands (sent in order, in one pipeline): a future of their results, each
        a value or the exception it met; the future fails when the pipeline does."""
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        self._queue.append(_Call(commands, future))
        if not self._scheduled:
            self._scheduled = True
            self._start(self._flush())
        return future

    async def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        batches: list[list[_Call]] = [[]]
        size = 0
        for call in queue:
            if call.future.cancelled():  # its caller is gone: not sent at all
                continue
            if batches[-1] and size + len(call.commands) > self.max_commands:
                batches.append([])
                size = 0
            batches[-1].append(call)
            size += len(call.commands)
        for batch in batches[1:]:  # side by side
            self._start(self._run(batch))
        if batches[0]:
            await self._run(batches[0])

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Call]) -> None:
        commands = [command for call in batch for command in call.commands]
        try:
            results = await self._pipeline(commands)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                await self.load_scripts()
                again = await self._pipeline([commands[i] for i in missing])
                for i, result in zip(missing, again, strict=True):
                    results[i] = result
        except asyncio.CancelledError:
            for call in batch:
                call.future.cancel()
            raise
        except Exception as e:
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(e)
            return
        start = 0
        for call in batch:
            end = start + len(call.commands)
            if not call.future.done():
                call.future.set_result(results[start:end])
            start = end

    async def _pipeline(self, commands: list[Command]) -> list[Any]:
        self.round_trips += 1
        async with self.redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results
