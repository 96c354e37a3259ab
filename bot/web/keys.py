"""The application's shared resources, as typed keys: one place, no string keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.flows.compiler import CompiledCatalog
from bot.metrics import Metrics
from bot.runtime.partitions import Runtime
from bot.settings import CamsAccount, Settings
from bot.store import RedisClient, Store
from bot.web.console.state import Console
from bot.web.shedding import Shedder


@dataclass
class CatalogRef:
    """The flows in force; replaced whole when the server reloads (SIGHUP)."""

    current: CompiledCatalog


SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", CatalogRef)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
STORE = web.AppKey("store", Store)
HTTP = web.AppKey("http", aiohttp.ClientSession)
CAMS_ENDPOINT = web.AppKey("cams_endpoint", str)
# The named CAMS accounts (BOT_CAMS_ACCOUNT_<NAME>_*), by name.
ACCOUNTS: web.AppKey[dict[str, CamsAccount]] = web.AppKey("accounts")
TENCENT_API = web.AppKey("tencent_api", str)
SANDBOX_MESSAGES: web.AppKey[list[dict[str, str]]] = web.AppKey("sandbox_messages")
SANDBOX_TENCENT_MESSAGES: web.AppKey[list[dict[str, Any]]] = web.AppKey("sandbox_tencent")
SANDBOX_AGENT: web.AppKey[list[dict[str, object]]] = web.AppKey("sandbox_agent")
RUNTIME = web.AppKey("runtime", Runtime)
SECRETS: web.AppKey[dict[str, str]] = web.AppKey("secrets")
METRICS = web.AppKey("metrics", Metrics)
SHEDDER = web.AppKey("shedder", Shedder)
CONSOLE = web.AppKey("console", Console)
# The id of a request: the caller's X-Request-Id when sane, else a new one.
REQUEST_ID = web.RequestKey("request_id", str)
# The `outcome` a request is counted with when its status alone does not say it (`shed`).
OUTCOME = web.RequestKey("outcome", str)

__all__ = [
    "ACCOUNTS",
    "CAMS_ENDPOINT",
    "CATALOG",
    "CLOCK",
    "CONSOLE",
    "HTTP",
    "METRICS",
    "OUTCOME",
    "REDIS",
    "REQUEST_ID",
    "RUNTIME",
    "SANDBOX_AGENT",
    "SANDBOX_MESSAGES",
    "SANDBOX_TENCENT_MESSAGES",
    "SECRETS",
    "SETTINGS",
    "SHEDDER",
    "STORE",
    "TENCENT_API",
    "CatalogRef",
]
