"""The project's exceptions: a small hierarchy whose members carry data, not formatted strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


class BotError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(BotError):
    """Settings that cannot work, e.g. a missing secret outside sandbox mode."""


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One problem in flows.yaml or intents/: where it is and what to do about it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class SpecError(BotError):
    """flows.yaml or intents/ cannot be loaded; carries every problem found."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class BadRequest(BotError):
    """A callback or API request we refuse (a 4xx); `reason` is safe to show the caller."""

    status = 400

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# Why an authentication check refused a request, as counted in metrics: nothing presented,
# a wrong value, a request seen before, a stale or future timestamp, anything else.
AuthCategory = Literal["missing", "wrong", "replay", "expired", "other"]


class Unauthorized(BadRequest):
    """Missing or wrong token or signature; `category` says which, for metrics."""

    status = 401

    def __init__(self, reason: str, *, category: AuthCategory = "other") -> None:
        super().__init__(reason)
        self.category: AuthCategory = category


class Forbidden(BadRequest):
    """Authenticated, but not for this resource (e.g. another app's id)."""

    status = 403

    def __init__(self, reason: str, *, category: AuthCategory = "wrong") -> None:
        super().__init__(reason)
        self.category: AuthCategory = category


class PayloadTooLarge(BadRequest):
    status = 413


class UnsupportedMediaType(BadRequest):
    status = 415


class StoreUnavailable(BotError):
    """Redis cannot be reached: callers answer 503 so the platform retries."""


class Overloaded(BotError):
    """More waits to be handled than the intake takes on (BOT_SHED_BACKLOG_AGE): a push is
    answered 503, so that the platform pushes it again later. `age` is the age in seconds of
    the oldest entry waiting; `retry_after` the seconds to ask the platform to wait."""

    def __init__(self, age: float, retry_after: int) -> None:
        self.age = age
        self.retry_after = retry_after
        self.reason = (
            f"overloaded: messages wait {age:.0f} s before they are handled; push again later"
        )
        super().__init__(self.reason)


@dataclass
class SendError(BotError):
    """A send API call failed. `code` is the platform's error code when it gave one."""

    code: str
    message: str
    status: int | None = None
    detail: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.message}")


class RetryableSendError(SendError):
    """Worth retrying with backoff: 5xx, timeouts, connection errors."""


@dataclass
class RateLimitedError(RetryableSendError):
    """Throttled by the platform; retry no sooner than `retry_after` seconds."""

    retry_after: float | None = None


class PermanentSendError(SendError):
    """Retrying cannot help: invalid recipient, template error, bad credentials."""
