"""How long to wait before trying again: exponential, capped, and jittered so that replicas
retrying against one PostgreSQL do not come back in step."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Waits of `first_s`, twice that, ... up to `max_s`, each scaled by a random factor in
    [1 - jitter, 1]. `next()` counts attempts; `reset()` after a success."""

    first_s: float
    max_s: float
    jitter: float = 0.5
    attempts: int = 0

    def delay(self, attempt: int) -> float:
        """The wait before try `attempt + 1` (attempt 1 waits about `first_s`)."""
        base = min(self.max_s, self.first_s * 2.0 ** max(0, attempt - 1))
        return base * random.uniform(1.0 - self.jitter, 1.0)

    def next(self) -> float:
        self.attempts += 1
        return self.delay(self.attempts)

    def reset(self) -> None:
        self.attempts = 0
