"""The web console in a real browser: Debian's Chromium, headless, driven by Playwright
(never a downloaded browser), against the real app, a real redis-server and the fake CAMS.
An operator signs in, finds a conversation made by signed callbacks, reads its transcript
(a customer's markup shown as text) and step trace, answers as an agent, ends the handoff,
retries a dead letter and erases the customer; the pages raise no console error, load
nothing from elsewhere, and work from the keyboard and on a phone-sized screen.

With BOT_CONSOLE_SHOTS=DIR set (`make screenshots`) the test saves a screenshot of each page
there (docs/console/)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from tests.browser import chromium_path
from tests.conftest import AppFactory
from tests.console_support import TOKEN
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, eventually, inbound

pytestmark = pytest.mark.browser

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "operator-key"
ALICE, BOB = "8613900000001", "8613900000002"
XSS = "<img src=x onerror=alert(1)>"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"],
        )  # fmt: skip
        try:
            yield launched
        finally:
            await launched.close()


class Watch:
    """What a page did that it must not: console errors, uncaught errors, dialogs (an
    `alert` is an injected script), requests to anywhere but the server."""

    def __init__(self, page: Page, origin: str) -> None:
        self.problems: list[str] = []
        self.origin = origin
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: self.problems.append(f"dialog: {d.message}"))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _request(self, request: Request) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith("data:")):
            self.problems.append(f"request elsewhere: {url}")


async def shot(page: Page, name: str) -> None:
    """With BOT_CONSOLE_SHOTS=DIR, the page as DIR/NAME.png (Playwright makes DIR)."""
    folder = os.environ.get("BOT_CONSOLE_SHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def customers_chatted(client: TestClient[Any, Any], fake_cams: CamsServer) -> None:
    """Alice writes markup, gets the menu (delivered, then read) and asks for a person; the
    reply to Bob is given up (a dead letter)."""
    assert (await client.post(RECEIPTS, json=[inbound(XSS, customer=ALICE)])).status == 200
    [menu] = await fake_cams.recorder.wait_for(1)
    for status in ("Delivered", "Read"):
        receipt = {"MessageId": menu["MessageId"], "TaskId": menu["TaskId"], "From": BUSINESS,
                   "To": ALICE, "Status": status, "Timestamp": int(time.time() * 1000)}  # fmt: skip
        assert (await client.post(RECEIPTS, json=[receipt])).status == 200
    assert (await client.post(RECEIPTS, json=[inbound("3", customer=ALICE)])).status == 200
    await fake_cams.recorder.wait_for(2)
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=1)
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=BOB)])).status == 200

    async def dead() -> bool:
        resp = await client.get("/v1/dead-letters", headers={"Authorization": f"Bearer {API_KEY}"})
        return bool((await resp.json())["total"] == 1)

    await eventually(dead)


def sent_to(fake_cams: CamsServer, words: str) -> bool:
    return any(words in str(m) for m in fake_cams.recorder.messages)


async def test_an_operator_works_through_the_console(
    make_client: AppFactory, fake_cams: CamsServer, browser: Browser
) -> None:
    """Sign in, overview, flows, find and read a conversation, answer, end the handoff,
    retry a dead letter, erase: in Chromium, with no error and nothing from elsewhere."""
    client = await make_client(console_tokens=TOKEN, api_keys=API_KEY, send_attempts=1)
    await customers_chatted(client, fake_cams)
    origin = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    watch = Watch(page, origin)

    # Signed out, the console asks for a token; a wrong one is refused.
    await page.goto(f"{origin}/console")
    assert page.url.startswith(f"{origin}/console/sign-in")
    await shot(page, "sign-in")
    await page.fill("#token", "not-the-token-000000")
    await page.click("button[type=submit]")
    alert = await page.locator("[role=alert]").inner_text()
    assert alert == "That token is not one of the console's."
    # The refusal's 401 is the one error the browser may log.
    assert [p for p in watch.problems if "401" not in p] == []
    watch.problems.clear()
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{origin}/console")
    assert await page.locator("h1").inner_text() == "Overview"
    assert await page.locator("[data-figure=dead]").inner_text() == "1"
    # The overview refreshes itself (htmx): a later figure arrives without a reload.
    async with page.expect_response(f"{origin}/console/live"):
        pass
    await shot(page, "overview")

    # Flows: the menu flow's diagram, with its counts.
    await page.click("nav >> text=Flows")
    await page.click("a[href^='/console/flows/menu']")
    diagram = page.locator("svg.flow-diagram")
    await diagram.wait_for()
    assert "choose" in await diagram.text_content()
    await shot(page, "flow")

    # Conversations: Alice found by her number, masked in the list.
    await page.click("nav >> text=Conversations")
    await page.fill("#customer", ALICE)
    await page.click("form.search button")
    await page.wait_for_url(f"**/console/conversations?customer={ALICE}*")
    row = page.locator("table.list tbody tr")
    assert await row.count() == 1
    listed = await row.inner_text()
    assert ALICE not in listed
    assert "861" in listed
    await shot(page, "conversations")
    await row.locator("a").first.click()
    await page.locator("ol.bubbles").wait_for()
    assert ALICE not in page.url
    chat = await page.locator("ol.bubbles").inner_text()
    assert XSS in chat  # shown as text, not run: Watch would see the alert
    assert await page.locator("ol.bubbles img").count() == 0
    assert "read" in await page.locator(".tick.read").first.inner_text()
    trace = await page.locator("table.trace").inner_text()
    assert "menu/support" in trace
    await shot(page, "conversation")

    # Answer as an agent, then end the handoff.
    await page.fill("#answer", "An agent here: how can I help?")
    await page.click("text=Send")
    assert "on its way" in await page.locator("[role=status]").inner_text()
    await eventually(lambda: sent_to(fake_cams, "An agent here"))
    await page.click("text=End the handoff")
    assert "handoff was ended" in await page.locator("[role=status]").inner_text()
    await eventually(lambda: sent_to(fake_cams, "Goodbye"))

    # Dead letters: Bob's reply given up; retried, it goes out.
    await page.click("nav >> text=Dead letters")
    assert "ServiceUnavailable" in await page.locator("table.list").inner_text()
    await shot(page, "dead-letters")
    before = len(fake_cams.recorder.messages)
    await page.click("table.list >> text=Retry")
    assert "put back" in await page.locator("[role=status]").inner_text()
    await fake_cams.recorder.wait_for(before + 1)

    # Erase Alice, after a confirmation.
    await page.click("nav >> text=Conversations")
    await page.fill("#customer", ALICE)
    await page.click("form.search button")
    await page.wait_for_url(f"**/console/conversations?customer={ALICE}*")
    await page.locator("table.list tbody tr a").first.click()
    await page.click("text=Erase this customer")
    await shot(page, "erase")
    await page.check("input[name=confirm]")
    await page.click("button.danger")
    assert "was erased" in await page.locator("[role=status]").inner_text()
    resp = await client.get("/v1/conversations", params={"customer": ALICE},
                            headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
    assert (await resp.json())["conversations"] == []

    # Campaigns: one made through the API, followed to its end, its starts per minute.
    people = [{"customer": f"+86139000004{n:02d}"} for n in range(12)]
    made = await client.post(
        "/v1/campaigns",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"intent": "appointment_reminder", "name": "Monday reminders", "rate": 20,
              "recipients": people},
    )  # fmt: skip
    assert made.status == 202
    await page.click("nav >> text=Campaigns")
    await page.click("text=Monday reminders")
    # The page refreshes its figures itself (htmx) until all 12 are started.
    await page.locator("[data-figure=started]:text-is('12')").wait_for(timeout=10_000)
    await shot(page, "campaign")

    # Sign out: the console asks for the token again.
    await page.click("text=Sign out")
    await page.wait_for_url(f"{origin}/console/sign-in")
    await page.goto(f"{origin}/console/dead-letters")
    assert page.url.startswith(f"{origin}/console/sign-in")
    assert watch.problems == []
    await context.close()


async def test_the_console_works_from_the_keyboard_and_on_a_phone(
    make_client: AppFactory, fake_cams: CamsServer, browser: Browser
) -> None:
    """Tab reaches the skip link and the menu, Enter follows them; at phone width no page
    scrolls sideways."""
    client = await make_client(console_tokens=TOKEN, api_keys=API_KEY, send_attempts=1)
    await customers_chatted(client, fake_cams)
    origin = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    watch = Watch(page, origin)
    await page.goto(f"{origin}/console/sign-in")
    await page.keyboard.type(TOKEN)  # the token field has the focus
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{origin}/console")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to the content"
    for _ in range(3):
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Flows"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{origin}/console/flows")
    for path in ("/console", "/console/flows", "/console/flows/appointment",
                 "/console/conversations", "/console/dead-letters"):  # fmt: skip
        await page.goto(f"{origin}{path}")
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 1, f"{path} scrolls sideways by {wide}px"
    await page.goto(f"{origin}/console/conversations?customer={ALICE}")
    await page.locator("table.list tbody tr a").first.click()
    await page.locator("ol.bubbles").wait_for()
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"a conversation scrolls sideways by {wide}px"
    await shot(page, "conversation-phone")
    assert watch.problems == []
    await context.close()
