"""Signing in to the web console from a test client, as a browser does."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

TOKEN = "operator-token-0123456789"


def field(html: str, name: str) -> str:
    """The value of the form field `name` in a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


async def sign_in(client: TestClient[Any, Any], token: str = TOKEN) -> Any:
    """Sign in through the form (its binding cookie and field): the answer to the POST."""
    page = await client.get("/console/sign-in")
    binding = field(await page.text(), "binding")
    return await client.post(
        "/console/sign-in", data={"binding": binding, "token": token, "next": "/console"}
    )
