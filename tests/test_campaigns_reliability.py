"""A campaign with real processes: two `bot serve` sharing one Redis (append-only), the
fake CAMS in this process, customers chatting meanwhile. A 2,000-recipient campaign at
200/s goes through a kill -9 of one server and a Redis restart: every recipient gets exactly
one first message (one TaskId: a send cut by the kill may go out again with its TaskId), the
counts say 2,000 started, no second saw more sends than the fake CAMS allows an account
(250), and every customer's chat message still gets its reply."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from bot.campaign import CampaignSpec, Status
from bot.store import campaign_to_json, recipient_to_json
from tests.reliability_support import (
    LoadDriver,
    conv_id,
    eventually,
    new_store,
    reply_text,
    rig,
    settle,
)
from tests.support import BUSINESS

pytestmark = pytest.mark.alone  # rates and latencies: run by themselves (conftest)

RECIPIENTS = 2000
RATE = 200


def recipient(n: int) -> str:
    return f"86150{n:08d}"


async def test_a_campaign_through_a_kill_9_and_a_redis_restart(tmp_path: Path) -> None:
    """Every recipient messaged exactly once, none skipped, chat replies all delivered."""
    # The account's limit (both servers') 200/s, the fake throttling above 250: the margin
    # of requests granted within one second that reach the receiver bunched (docs).
    async with asyncio.timeout(80), rig(tmp_path, BOT_SEND_RATE_LIMIT="200") as world:
        store = new_store(world.redis)
        now = int(time.time() * 1000)
        spec = CampaignSpec(intent="notice", business=BUSINESS, rate=RATE)
        campaign = await store.new_campaign(
            uuid.uuid4().hex[:16], campaign_to_json(spec), created_ms=now, total=RECIPIENTS
        )
        rows = [(conv_id(recipient(n)), recipient_to_json({"name": f"R{n}"}, ""), now)
                for n in range(RECIPIENTS)]  # fmt: skip
        assert await store.add_recipients(campaign, rows) == RECIPIENTS
        driver = LoadDriver(world.urls, customers=30, messages=8, pause=0.4, seed=7)
        chat = asyncio.create_task(driver.run(world.session))
        await store.move_campaign(campaign, Status.RUNNING)

        async def started(n: int) -> bool:
            record = await store.campaign(campaign)
            return record is not None and record.counts.get("started", 0) >= n

        await eventually(lambda: started(RECIPIENTS // 4), within=20.0)
        victim = world.servers[0]
        victim.kill()
        await asyncio.sleep(1.0)
        victim.start()
        await victim.ready(world.session)
        await eventually(lambda: started(RECIPIENTS * 3 // 5), within=30.0)
        await asyncio.to_thread(world.redis_server.stop, kill=True)
        await asyncio.sleep(2.0)
        world.redis_server.start()
        await asyncio.wait_for(chat, timeout=40)

        def recipients_messaged() -> int:
            return len({m["To"] for m in world.cams.fake.messages if m["To"].startswith("86150")})

        await eventually(lambda: recipients_messaged() == RECIPIENTS, within=40.0)
        await settle(driver, world.cams, world.redis, within=30.0)

        tasks: dict[str, set[str]] = defaultdict(set)
        for m in world.cams.fake.messages:
            if m["To"].startswith("86150"):
                tasks[m["To"]].add(m["TaskId"])
        several = {to: ids for to, ids in tasks.items() if len(ids) != 1}
        assert not several, f"recipients messaged twice: {list(several.items())[:3]}"
        for n in (0, RECIPIENTS // 2, RECIPIENTS - 1):
            [message] = [m for m in world.cams.fake.messages if m["To"] == recipient(n)]
            assert f"R{n}" in str(message)
        record = await store.campaign(campaign)
        assert record is not None
        assert record.counts == {"pending": 0, "started": RECIPIENTS, "sent": RECIPIENTS}
        # The fake CAMS throttles above 250 sends in a second: it never had to.
        assert world.cams.rate_limited == 0
        replies: dict[str, set[str]] = defaultdict(set)
        for m in world.cams.fake.messages:
            if "Content" in m:
                replies[reply_text(m)].add(m["TaskId"])
        for mid in driver.acked:
            assert len(replies[driver.messages_by_id[mid].reply]) == 1, mid
