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


class NotFound(BadRequest):
    """What the request names does not exist."""

    status = 404


class TooManyRequests(BadRequest):
    """Too many tries (the console's failed sign-ins): try again in `retry_after` seconds."""

    status = 429

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RequestTimeout(BadRequest):
    """The body did not arrive within BOT_BODY_TIMEOUT seconds."""

    status = 408


class Conflict(BadRequest):
    """The request contradicts what is stored (an idempotency key reused otherwise)."""

    status = 409


class ExpectationFailed(BadRequest):
    """An `Expect` header other than `100-continue`."""

    status = 417


class SignatureMismatch(Unauthorized):
    """A request whose V3 signature cannot be accepted. `code` is the POP error code the
    gateway would answer (e.g. `SignatureDoesNotMatch`); `reason` is safe to show the caller
    and never contains a secret or the expected signature."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


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


# -- what an author wrote that cannot work (flows.yaml, templates, patterns, calls)


class ExprError(BotError):
    """An expression that cannot be parsed or evaluated.

    `source` is the expression (or the whole text, for a template) and `column` the 1-based
    position of the problem in it, when known. `message` is written for flow authors.
    """

    def __init__(self, source: str, message: str, column: int | None = None) -> None:
        super().__init__(source, message, column)  # as args, so that it pickles
        self.source = source
        self.message = message
        self.column = column

    def __str__(self) -> str:
        where = f" at column {self.column}" if self.column is not None else ""
        shown = self.source if len(self.source) <= 120 else self.source[:117] + "..."
        return f"{self.message} (in `{shown}`{where})"


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says what is wrong and how to fix it."""


class CallTextError(BotError):
    """A call that cannot be made as rendered: a URL whose host would come from data, a
    scheme other than http(s), a secret that is not set. `reason` is safe to log: it names
    secrets and parts of the URL, never values."""

    def __init__(self, reason: str, *, missing: str | None = None) -> None:
        self.reason = reason
        self.missing = missing  # the NAME of an unset secret
        super().__init__(reason)


# -- what a customer wrote that cannot be read


PhoneProblem = Literal["not_a_phone", "too_short", "too_long"]


class NotAPhoneNumber(ValueError):
    """`problem` says why, as `collect: phone` reports it: not_a_phone, too_short, too_long."""

    def __init__(self, problem: PhoneProblem) -> None:
        self.problem = problem
        super().__init__(
            {
                "not_a_phone": "not a phone number",
                "too_short": "too short for a phone number",
                "too_long": "too long for a phone number",
            }[problem]
        )


# -- what a platform sent that does not authenticate


UserSigProblem = Literal["malformed", "sdkappid", "identifier", "expired", "signature"]


class UserSigError(ValueError):
    """A UserSig that does not authenticate `identifier` for `sdkappid` now. `reason` is
    one of "malformed", "sdkappid", "identifier", "expired", "signature"."""

    def __init__(self, reason: UserSigProblem, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: UserSigProblem = reason


# -- the command line's


class ServerRefused(BotError):
    """A running server refused a command's call (`bot campaign`): its status and reason."""


class CamsCallError(BotError):
    """An API call CAMS refused, or whose answer could not be read (`bot templates
    sync`): its code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Unreachable(BotError):
    """The server a player (`bot say`, `bot trigger`) talks to did not answer: one line
    for the user, exit 1."""


# -- the runtime's own turns


class LeaseLost(Exception):
    """Another process owns the partition now: stop working on it."""


class CallRefused(ValueError):
    """A stored call that must not be made as stored, with what its answer needs: its
    kind, method and visit."""

    def __init__(self, reason: str, *, kind: str, method: str, visit: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.method = method
        self.visit = visit
