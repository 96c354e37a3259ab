"""The application's shared resources, as typed keys: one place, no string keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.flows.compiler import CompiledCatalog
from bot.runtime.partitions import Runtime
from bot.settings import Settings
from bot.store import Store


@dataclass
class CatalogRef:
    """The flows in force; replaced whole when the server reloads (SIGHUP)."""

    current: CompiledCatalog


SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", CatalogRef)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
REDIS = web.AppKey("redis", Redis)
STORE = web.AppKey("store", Store)
HTTP = web.AppKey("http", aiohttp.ClientSession)
CAMS_ENDPOINT = web.AppKey("cams_endpoint", str)
TENCENT_API = web.AppKey("tencent_api", str)
SANDBOX_MESSAGES: web.AppKey[list[dict[str, str]]] = web.AppKey("sandbox_messages")
SANDBOX_TENCENT_MESSAGES: web.AppKey[list[dict[str, Any]]] = web.AppKey("sandbox_tencent")
SANDBOX_AGENT: web.AppKey[list[dict[str, object]]] = web.AppKey("sandbox_agent")
RUNTIME = web.AppKey("runtime", Runtime)
SECRETS: web.AppKey[dict[str, str]] = web.AppKey("secrets")

__all__ = [
    "CAMS_ENDPOINT",
    "CATALOG",
    "CLOCK",
    "HTTP",
    "REDIS",
    "RUNTIME",
    "SANDBOX_AGENT",
    "SANDBOX_MESSAGES",
    "SANDBOX_TENCENT_MESSAGES",
    "SECRETS",
    "SETTINGS",
    "STORE",
    "TENCENT_API",
    "CatalogRef",
]
