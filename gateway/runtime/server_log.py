"""The HTTP server's warnings under load, said once per episode instead of once per request.

waitress warns "Task queue depth is N" for every request that finds no idle thread: thousands of
lines in a busy minute, saying the same thing. :class:`OncePerEpisode` lets the first warning of an
episode through (reworded to say what it means), counts the rest, and starts a new episode only after
:data:`EPISODE_GAP_SECONDS` without one; the next episode's first line sums up the previous one.
"""

from __future__ import annotations

import logging
import re
import threading
import time

EPISODE_GAP_SECONDS = 10.0
_DEPTH = re.compile(r"Task queue depth is (\d+)")


class OncePerEpisode(logging.Filter):
    """A filter for waitress's ``waitress.queue`` logger (see the module's doc)."""

    def __init__(self, gap: float = EPISODE_GAP_SECONDS, clock=time.monotonic):
        super().__init__()
        self.gap = gap
        self.clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._last = 0.0
        self._count = 0
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        found = _DEPTH.search(record.getMessage())
        if found is None:
            return True
        depth = int(found.group(1))
        stamp = self.clock()
        with self._lock:
            if self._started is not None and stamp - self._last < self.gap:  # the episode goes on
                self._last = stamp
                self._count += 1
                self._deepest = max(self._deepest, depth)
                return False
            previous = ""
            if self._started is not None:
                previous = (f" (the previous episode: {self._count} such warnings over "
                            f"{self._last - self._started:.1f}s, deepest {self._deepest})")
            self._started = self._last = stamp
            self._count, self._deepest = 1, depth
        record.msg = ("requests are waiting for a free server thread (queue depth %d); said once until "
                      "%gs pass without it%s")
        record.args = (depth, self.gap, previous)
        return True


_installed = OncePerEpisode()


def quiet_queue_warnings() -> None:
    """Install :class:`OncePerEpisode` on waitress's queue logger (once)."""
    logger = logging.getLogger("waitress.queue")
    if _installed not in logger.filters:
        logger.addFilter(_installed)
