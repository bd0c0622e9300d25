"""Per-client ingestion rate limits: a token bucket per client, in events per second.

A client over its rate gets 429 with the seconds until it may send again; the daemon
being unable to keep up is a different answer (503), decided by the queue.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: Buckets idle this long are forgotten, so memory does not grow with clients ever seen.
IDLE_FORGET_S = 600.0


class RateLimiter:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._last_sweep = clock()

    def take(self, client: str, events: int) -> float:
        """Take `events` tokens: 0.0 if allowed, else the seconds until they would be."""
        now = self._clock()
        tokens, when = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - when) * self.rate)
        if events > tokens:
            self._buckets[client] = (tokens, now)
            needed = min(events, self.burst) - tokens
            return max(needed / self.rate, 0.001)
        self._buckets[client] = (tokens - events, now)
        if now - self._last_sweep > IDLE_FORGET_S:
            self._sweep(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        idle = [c for c, (_, when) in self._buckets.items() if now - when > IDLE_FORGET_S]
        for client in idle:
            del self._buckets[client]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
