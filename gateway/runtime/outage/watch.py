"""Noticing the database go away and come back, once each.

A :class:`DatabaseWatch` listens to its engine's errors (SQLAlchemy's ``handle_error`` event, so it
sees every failure: requests, workers, health checks, the CLI). The first error that means the
database is unavailable (:func:`~.causes.unavailable`) opens an **outage**: one ERROR line in the
log (one per node: the processes of a pre-fork server share :class:`~.node_log.NodeOutages`),
``gateway_database_available`` drops to 0, and a background thread starts probing the database
with a small real write (:mod:`.probe`) every ``probe_interval`` seconds. The first probe that
succeeds closes the outage: one WARNING line per node, from its last process to find the database
back, saying how long it lasted and how many requests the node refused meanwhile, and every thread waiting in :meth:`DatabaseWatch.wait_until_back` (the paused
delivery workers) wakes up. Errors during an outage log nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.store.unavailable import REASONS, Unavailable, unavailable
from gateway.runtime.outage.node_log import NodeOutages
from gateway.runtime.outage.probe import probe_write

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 1.0
SEEN_BY = "_gateway_database_watch"  # set on the exceptions a watch has seen, to the watch


@dataclass
class Outage:
    """One stretch of time the database was unavailable, as this process saw it."""

    first: Unavailable
    reason: str  # the latest reason (a stopping server is first shutting down, then unreachable)
    started_at: float  # wall clock
    started: float  # monotonic
    refused: int = 0
    ended: float | None = field(default=None)

    def seconds(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def describe(self) -> dict[str, Any]:
        """For ``/healthz``: no driver message (it may name hosts), only the reason."""
        return {
            "reason": self.reason,
            "description": REASONS[self.reason],
            "since": datetime.fromtimestamp(self.started_at, timezone.utc).isoformat().replace("+00:00", "Z"),
            "seconds": round(self.seconds(), 3),
            "refused": self.refused,
        }


class DatabaseWatch:
    """The database's availability as one process sees it (see the module's description).

    ``retry_after`` is what refused requests are told to wait, in seconds. ``probe`` checks the
    database and raises while it is unavailable (default: :func:`~.probe.probe_write`).
    """

    def __init__(self, engine: Engine, registry: CollectorRegistry, *, retry_after: int = 5,
                 probe: Callable[[Engine], None] = probe_write,
                 probe_interval: float = PROBE_INTERVAL_SECONDS):
        self.engine = engine
        self.retry_after = retry_after
        self.probe_interval = probe_interval
        self._probe = probe
        self._cond = threading.Condition()
        self._probe_lock = threading.Lock()
        self._outage: Outage | None = None
        self.generation = 0  # outages opened so far: whether one came and went while you looked away
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()
        self.node = NodeOutages()
        self.on_back: list[Callable[[], None]] = []
        """Called (in the probing thread) when an outage this process met has ended: e.g. catch up
        the flag changes whose webhooks were refused meanwhile."""
        self.refusals = Counter(
            "gateway_database_refusals",
            "Requests answered 503 because the database was unavailable, by reason",
            ["reason"], registry=registry,
        )
        self.outages = Counter(
            "gateway_database_outages", "Times this process found the database unavailable", registry=registry,
        )
        self.available = Gauge(
            "gateway_database_available", "1 while this process can use the database, 0 during an outage",
            registry=registry,
        )
        self.available.set(1)
        event.listen(engine, "handle_error", self._on_error)

    # what the engine reports -------------------------------------------------------------------

    def _on_error(self, context) -> None:
        if context.is_pre_ping:  # SQLAlchemy reconnects at once; if that fails, it is reported again
            return
        problem = unavailable(context.original_exception, disconnect=context.is_disconnect)
        if problem is None:
            return
        if context.sqlalchemy_exception is not None:
            setattr(context.sqlalchemy_exception, SEEN_BY, self)
        self.went_away(problem)

    def went_away(self, problem: Unavailable) -> None:
        """The database is unavailable: open an outage (and say so) unless one is open."""
        with self._cond:
            if self._outage is not None:
                self._outage.reason = problem.reason
                return
            self._outage = Outage(first=problem, reason=problem.reason, started_at=time.time(),
                                  started=time.monotonic())
            self.generation += 1
            if self._prober is None and not self._closed.is_set():
                self._prober = threading.Thread(target=self._probe_until_back, name="database-probe", daemon=True)
                self._prober.start()
        self.outages.inc()
        self.available.set(0)
        if self.node.opened():
            log.error("database unavailable: %s (%s); requests that need it are answered 503 with Retry-After: %d "
                      "and the delivery workers pause until it is back", problem.description, problem.detail,
                      self.retry_after)

    def refused(self, problem: Unavailable, *, ours: bool = True) -> None:
        """A request was answered 503 for ``problem``; ``ours``: the error came from this watch's
        engine (another engine's errors are counted, but open no outage here)."""
        self.refusals.labels(problem.reason).inc()
        if ours:
            with self._cond:
                if self._outage is not None:
                    self._outage.refused += 1

    def seen(self, error: BaseException) -> bool:
        """Whether ``error`` came from this watch's engine."""
        return getattr(error, SEEN_BY, None) is self

    # coming back -------------------------------------------------------------------------------

    def current(self) -> Outage | None:
        """The open outage, if any."""
        with self._cond:
            return self._outage

    def probe(self) -> bool:
        """During an outage, check the database now (a write) and close the outage if it works.
        True when the database is available."""
        with self._probe_lock:
            if self.current() is None:
                return True
            try:
                self._probe(self.engine)
            except Exception as exc:
                if unavailable(exc) is not None:
                    return False
                # the database answered, with something else: not an outage any more
                log.warning("database probe failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            self._back()
            return True

    def _back(self) -> None:
        with self._cond:
            outage = self._outage
            if outage is None:
                return
            outage.ended = time.monotonic()
            self._outage = None
            self._cond.notify_all()
        self.available.set(1)
        for listener in list(self.on_back):
            try:
                listener()
            except Exception:
                log.exception("a listener of the database's return failed")
        ended = self.node.closed(outage.refused)
        if ended is not None:
            processes = f" (by the {ended.processes} processes of this node that met it)" if ended.processes > 1 else ""
            log.warning("database available again after %.1f s; %d request(s) were refused with 503 meanwhile%s",
                        ended.seconds, ended.refused, processes)

    def _probe_until_back(self) -> None:
        while not self._closed.wait(self.probe_interval):
            self.probe()
            with self._cond:
                if self._outage is None:
                    self._prober = None
                    return
        with self._cond:
            self._prober = None

    def wait_until_back(self, timeout: float) -> bool:
        """Wait while an outage lasts, at most ``timeout`` seconds (or until :meth:`wake`); True when
        no outage is open."""
        with self._cond:
            if self._outage is not None:
                self._cond.wait(timeout)
            return self._outage is None

    def wake(self) -> None:
        """Wake every thread in :meth:`wait_until_back` (so that stopping workers need not wait)."""
        with self._cond:
            self._cond.notify_all()

    def after_fork(self) -> None:
        """In a forked child: locks and a probe thread of its own (the parent's threads did not come
        along); an outage the parent had open stays open here, probed by this process."""
        self._cond = threading.Condition()
        self._probe_lock = threading.Lock()
        self._closed = threading.Event()
        self._prober = None
        if self._outage is not None:
            self._prober = threading.Thread(target=self._probe_until_back, name="database-probe", daemon=True)
            self._prober.start()

    def close(self) -> None:
        """Stop probing (the app is going away)."""
        self._closed.set()
        self.wake()
