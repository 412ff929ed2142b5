"""The retry schedule: how long to wait before each attempt, with jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence

JITTER = 0.2


class RetrySchedule:
    """``delays[n]`` is the wait before attempt ``n + 1`` (``delays[0]`` before the first, counted
    from when the event was accepted). A delivery gets ``len(delays)`` attempts. Each wait is spread
    by +-20% so that deliveries that failed together do not all come back at the same instant."""

    def __init__(self, delays: Sequence[float], rng: random.Random | None = None):
        if not delays:
            raise ValueError("a retry schedule needs at least one entry")
        self.delays = tuple(float(d) for d in delays)
        self._rng = rng or random.Random()

    @property
    def max_attempts(self) -> int:
        return len(self.delays)

    def exhausted(self, attempts_made: int) -> bool:
        """Whether a delivery that has made ``attempts_made`` attempts gets no more."""
        return attempts_made >= self.max_attempts

    def delay_after(self, attempts_made: int) -> float:
        """Seconds to wait after attempt ``attempts_made`` failed, jitter applied. Past the end of
        the schedule (a delivery re-queued by hand) the last entry applies."""
        base = self.delays[min(attempts_made, len(self.delays) - 1)]
        return base * self._rng.uniform(1 - JITTER, 1 + JITTER)
