"""Prometheus metrics: what the server counts, and the text `/metrics` answers.

One `Metrics` per app (created by the app factory, handed to whoever records), owning its
own `CollectorRegistry`: nothing goes through prometheus_client's global registry.

With `bot serve --workers N` the parent sets PROMETHEUS_MULTIPROC_DIR before it starts the
worker processes; prometheus_client then keeps each process's values in files there (it
decides when it is first imported, from that variable), and `/metrics` sums every
process's files, so any process answers a scrape with the totals of all of them.

The backlog ages and the dead letters are not counted by any process: they are read from
Redis when `/metrics` is scraped (`Backlog`, bot/store/reads.py), so every process gives
the same answer.

Every label value comes from a small fixed set, or from the compiled flows (flow and state
names): never a phone number, a message id or a text. An unknown value is shown as `other`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from bot.model import DEFAULT_ACCOUNT
from bot.store import Backlog as Backlog  # what a scrape shows of Redis, read by the store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

PLATFORMS = ("cams", "tencent", "api")  # who calls us
SEND_PLATFORMS = ("cams", "tencent")  # whom we send through
CALLBACK_KINDS = (
    "receipts",
    "business",
    "callback",
    "intent",
    "resume",
    "restart",
    "message",
    "other",
)
CALLBACK_OUTCOMES = (
    "ok",
    "bad_request",
    "unauthorized",
    "too_large",
    "unsupported_media",
    "timeout",
    "unavailable",
    "shed",
    "error",
)
AUTH_REASONS = ("missing", "wrong", "replay", "expired", "other")
STEP_OUTCOMES = ("entered", "matched", "no_match", "timeout", "error")
SEND_RESULTS = ("sent", "retried", "failed", "dead")
QUEUES = ("inbox", "outbox", "calls")

# Seconds. A callback is answered after one Redis round trip: milliseconds.
CALLBACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def one_of(value: str, allowed: Iterable[str]) -> str:
    """`value` when it is one of `allowed`, else `other`: label sets stay bounded."""
    return value if value in allowed else "other"


def outcome_of(status: int) -> str:
    """The `outcome` label of an HTTP status."""
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "unauthorized"
    if status == 408:
        return "timeout"
    if status == 413:
        return "too_large"
    if status == 415:
        return "unsupported_media"
    if status == 503:
        return "unavailable"
    if status < 500:
        return "bad_request"
    return "error"


def _backlog_families(backlog: Backlog) -> Iterator[Metric]:
    ages = GaugeMetricFamily(
        "bot_backlog_age_seconds",
        "Age of the oldest entry waiting in a queue, over all partitions (read from Redis).",
        labels=["queue"],
    )
    for queue, age in zip(
        QUEUES, (backlog.inbox_age, backlog.outbox_age, backlog.calls_age), strict=True
    ):
        ages.add_metric([queue], age)
    yield ages
    yield GaugeMetricFamily(
        "bot_dead_letters",
        "Dead letters waiting for `bot dlq` (read from Redis).",
        value=backlog.dead_letters,
    )


def _campaign_families(campaigns: Mapping[str, Mapping[str, int]]) -> Iterator[Metric]:
    recipients = GaugeMetricFamily(
        "bot_campaign_recipients",
        "The counts of each running or paused campaign and of the 20 latest (read from "
        "Redis): recipients pending, started, skipped_REASON, cancelled, erased, "
        "carried_over; first messages sent, delivered, read, failed_CODE; recipients since "
        "replied, opted_out, opted_out_marketing.",
        labels=["campaign", "status"],
    )
    for campaign, counts in sorted(campaigns.items()):
        for status, n in sorted(counts.items()):
            recipients.add_metric([campaign, status.replace(":", "_")], n)
    yield recipients


class _Scrape:
    """What one scrape shows: the registry's metrics, and the backlog and the campaigns
    read for it."""

    def __init__(
        self,
        registry: CollectorRegistry,
        backlog: Backlog | None,
        campaigns: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.registry = registry
        self.backlog = backlog
        self.campaigns = campaigns

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        if self.backlog is not None:
            yield from _backlog_families(self.backlog)
        if self.campaigns is not None:
            yield from _campaign_families(self.campaigns)


class Metrics:
    """The server's metrics. When PROMETHEUS_MULTIPROC_DIR is set (it must be before
    prometheus_client is first imported), `exposition` sums the values of every process
    writing there."""

    def __init__(self, accounts: Iterable[str] = ()) -> None:
        """`accounts`: the names of the named CAMS accounts (BOT_CAMS_ACCOUNT_<NAME>_*), the
        values of the `account` label beside `default`."""
        self.accounts = (DEFAULT_ACCOUNT, *sorted(set(accounts) - {DEFAULT_ACCOUNT}))
        multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        # In multi-process mode the values live in files; the collector reads them all.
        own = self.registry if multiprocess_dir is None else None
        if multiprocess_dir is not None:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]

        self.callbacks = Counter(
            "bot_callbacks_total",
            "Callbacks and API calls answered, by platform, kind and outcome.",
            ["platform", "kind", "outcome"],
            registry=own,
        )
        self.callback_seconds = Histogram(
            "bot_callback_seconds",
            "Time to answer a callback or API call.",
            ["platform", "kind"],
            buckets=CALLBACK_BUCKETS,
            registry=own,
        )
        self.auth_rejections = Counter(
            "bot_auth_rejections_total",
            "Requests refused by an authentication check, by reason.",
            ["platform", "reason"],
            registry=own,
        )
        self.duplicates = Counter(
            "bot_duplicates_total",
            "Repeated pushes and triggers dropped at intake.",
            ["platform"],
            registry=own,
        )
        self.flow_steps = Counter(
            "bot_flow_steps_total",
            "Flow funnel: states entered; answers matched or not; timeouts; failed steps.",
            ["flow", "state", "outcome"],
            registry=own,
        )
        self.sends = Counter(
            "bot_sends_total",
            "Replies sent, attempts retried, replies refused for good, replies given up, by "
            "platform account (`default`, or a NAME of BOT_CAMS_ACCOUNT_<NAME>_*).",
            ["platform", "account", "result"],
            registry=own,
        )
        self.send_seconds = Histogram(
            "bot_send_seconds",
            "Latency of send API calls (every attempt).",
            ["platform", "account"],
            buckets=SEND_BUCKETS,
            registry=own,
        )
        self.rate_limit_waits = Counter(
            "bot_rate_limit_waits_total",
            "Sends that waited for the shared send rate limit.",
            ["platform", "account"],
            registry=own,
        )
        self.rate_limit_wait_seconds = Counter(
            "bot_rate_limit_wait_seconds_total",
            "Seconds sends waited for the shared send rate limit.",
            ["platform", "account"],
            registry=own,
        )
        self.process_requests = Gauge(
            "bot_process_requests",
            "HTTP requests this process answered; with --workers one series per live worker "
            "process (label pid).",
            registry=own,
            multiprocess_mode="liveall",
        )
        self._callback_series: dict[
            tuple[str, str, int, str | None], tuple[Counter, Histogram]
        ] = {}
        # Series that should read 0 rather than be missing before anything happened.
        for platform in PLATFORMS:
            self.duplicates.labels(platform)
            for reason in AUTH_REASONS:
                self.auth_rejections.labels(platform, reason)
        self.unknown_numbers = Counter(
            "bot_unknown_numbers_total",
            "Messages and calls to a business number that `numbers:` does not list, refused.",
            ["platform"],
            registry=own,
        )
        for platform in PLATFORMS:
            self.unknown_numbers.labels(platform)
        for platform in SEND_PLATFORMS:
            for account in self.accounts if platform == "cams" else (DEFAULT_ACCOUNT,):
                self.rate_limit_waits.labels(platform, account)
                self.rate_limit_wait_seconds.labels(platform, account)
                for result in SEND_RESULTS:
                    self.sends.labels(platform, account, result)

    # -- recording --------------------------------------------------------------------------

    def callback(
        self, platform: str, kind: str, status: int, seconds: float, outcome: str | None = None
    ) -> None:
        """One callback or API call answered with `status` after `seconds`; `outcome` when
        the status alone does not say it (`shed`: a 503 of back-pressure, not of Redis)."""
        key = (platform, kind, status, outcome)
        series = self._callback_series.get(key)
        if series is None:  # once per (platform, kind, status, outcome): labels() costs a little
            p, k = one_of(platform, PLATFORMS), one_of(kind, CALLBACK_KINDS)
            o = outcome_of(status) if outcome is None else one_of(outcome, CALLBACK_OUTCOMES)
            series = self._callback_series[key] = (
                self.callbacks.labels(p, k, o),
                self.callback_seconds.labels(p, k),
            )
        series[0].inc()
        series[1].observe(seconds)

    def request_served(self) -> None:
        self.process_requests.inc()

    def auth_rejected(self, platform: str, reason: str) -> None:
        self.auth_rejections.labels(one_of(platform, PLATFORMS), one_of(reason, AUTH_REASONS)).inc()

    def duplicate(self, platform: str, n: int = 1) -> None:
        if n:
            self.duplicates.labels(one_of(platform, PLATFORMS)).inc(n)

    def step(self, flow: str, state: str, outcome: str) -> None:
        """`flow` and `state` must be names of the compiled flows (or `none`/`other`)."""
        self.flow_steps.labels(flow, state, one_of(outcome, STEP_OUTCOMES)).inc()

    def send(self, platform: str, result: str, account: str = DEFAULT_ACCOUNT) -> None:
        """`account`: the name of a configured account (settings bound the label's values)."""
        self.sends.labels(
            one_of(platform, SEND_PLATFORMS), one_of(account, self.accounts),
            one_of(result, SEND_RESULTS),
        ).inc()  # fmt: skip

    def send_latency(self, platform: str, seconds: float, account: str = DEFAULT_ACCOUNT) -> None:
        self.send_seconds.labels(
            one_of(platform, SEND_PLATFORMS), one_of(account, self.accounts)
        ).observe(seconds)

    def rate_limit_wait(
        self, platform: str, *, waits: int, seconds: float, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """`waits` waits for the send rate limit began, and/or `seconds` more waited."""
        platform, account = one_of(platform, SEND_PLATFORMS), one_of(account, self.accounts)
        if waits:
            self.rate_limit_waits.labels(platform, account).inc(waits)
        if seconds:
            self.rate_limit_wait_seconds.labels(platform, account).inc(seconds)

    def unknown_number(self, platform: str, n: int = 1) -> None:
        """`n` messages or calls to a business number `numbers:` does not list, refused."""
        self.unknown_numbers.labels(one_of(platform, PLATFORMS)).inc(n)

    async def callbacks_answered(self) -> float:
        """The platforms' callbacks answered so far (every process's, as `/metrics` sums
        them): what the console's overview makes a rate of."""
        return await asyncio.to_thread(self._callbacks_answered)

    def _callbacks_answered(self) -> float:
        return sum(
            sample.value
            for family in self.registry.collect()
            if family.name == "bot_callbacks"
            for sample in family.samples
            if sample.name == "bot_callbacks_total" and sample.labels["platform"] != "api"
        )

    # -- exposition -------------------------------------------------------------------------

    async def exposition(
        self,
        backlog: Backlog | None = None,
        campaigns: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bytes:
        """The text of `/metrics` (Prometheus text format), with `backlog` and the active
        `campaigns`' counts (by campaign id) when they could be read. Made in a thread: in
        multi-process mode it reads every process's files."""
        scrape = _Scrape(self.registry, backlog, campaigns)
        return await asyncio.to_thread(generate_latest, scrape)

    def close(self) -> None:
        """This process is done: drop its per-process gauges from what scrapes show (its
        counters stay: totals never go down)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
