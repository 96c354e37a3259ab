"""What the console keeps for the app's life: its templates, the samples its overview's
rates are made of, and the key of its links (read from Redis once)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jinja2
from cryptography.fernet import Fernet

SAMPLES_KEPT = 40
RATE_SPAN = 60.0  # seconds: a rate is the change over about the last minute
RATE_LEAST = 4.0  # seconds between two samples before a rate is shown


@dataclass
class Rates:
    """Counters' totals sampled whenever the overview is looked at; a rate per minute is
    the change since the sample about a minute old (or the oldest kept)."""

    clock: Callable[[], float] = time.monotonic
    samples: deque[tuple[float, dict[str, float]]] = field(
        default_factory=lambda: deque(maxlen=SAMPLES_KEPT)
    )

    def per_minute(self, totals: Mapping[str, float]) -> dict[str, float | None]:
        """Record `totals`; each one's change per minute, None until one can be told."""
        now = self.clock()
        while self.samples and now - self.samples[0][0] > 2 * RATE_SPAN:
            self.samples.popleft()
        base = next(((t, v) for t, v in self.samples if now - t <= RATE_SPAN), None)
        if self.samples and (base is None or now - base[0] < RATE_LEAST):
            base = self.samples[0]
        self.samples.append((now, dict(totals)))
        if base is None or now - base[0] < RATE_LEAST:
            return dict.fromkeys(totals)
        seconds = now - base[0]
        return {
            name: max(0.0, value - base[1].get(name, 0.0)) * 60 / seconds
            for name, value in totals.items()
        }


@dataclass
class Console:
    templates: jinja2.Environment
    rates: Rates = field(default_factory=Rates)
    links: Fernet | None = None
