"""The outage lines of one node: every process of a pre-fork server watches the database on its own
(:class:`~.watch.DatabaseWatch`), but the node says "database unavailable" once, when its first
process finds it so, and "available again" once, when its last one finds it back, with the
requests all of them refused. Shared memory made before the fork (:meth:`NodeOutages.share`); a
single process (waitress, a worker) counts alone."""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NodeOutageEnd:
    """What the last process to find the database back reports for the whole node."""

    seconds: float
    refused: int
    processes: int  # how many of the node's processes met the outage


class NodeOutages:
    def __init__(self) -> None:
        self._lock: Any = threading.Lock()
        self._open = 0  # processes in an outage now
        self._met = 0  # processes that met the current outage
        self._refused = 0
        self._started = 0.0  # wall clock, when the first process found the database unavailable
        self._shared: Any = None

    def share(self) -> None:
        """Count in memory the processes forked after this call share."""
        self._lock = multiprocessing.Lock()
        self._shared = multiprocessing.RawArray("d", 4)  # open, met, refused, started

    def _values(self) -> list[float]:
        if self._shared is not None:
            return list(self._shared)
        return [self._open, self._met, self._refused, self._started]

    def _store(self, values: list[float]) -> None:
        if self._shared is not None:
            self._shared[:] = values
        else:
            self._open, self._met, self._refused, self._started = (
                int(values[0]), int(values[1]), int(values[2]), values[3])

    def opened(self) -> bool:
        """This process found the database unavailable; True when it is the node's first to."""
        with self._lock:
            open_now, met, refused, started = self._values()
            first = open_now == 0
            if first:
                met, refused, started = 0, 0, time.time()
            self._store([open_now + 1, met + 1, refused, started])
            return first

    def closed(self, refused_here: int) -> NodeOutageEnd | None:
        """This process found the database back after refusing ``refused_here`` requests; the node's
        summary when it was the last process still in the outage, else None."""
        with self._lock:
            open_now, met, refused, started = self._values()
            open_now = max(open_now - 1, 0)
            refused += refused_here
            self._store([open_now, met, refused, started])
            if open_now:
                return None
            return NodeOutageEnd(seconds=max(time.time() - started, 0.0), refused=int(refused), processes=int(met))
