"""The catch-up in the background: ``serve`` reconciles from the flag platform's audit log (see
:mod:`gateway.runtime.catchup`) at start, every ``GATEWAY_CATCHUP_INTERVAL_SECONDS``, when
a database outage ends, and when the connection changes; each of those but the interval's once more
a moment later (a window ends a little before now). One thread, in the process that runs the background checks (one per node: see
:mod:`gateway.runtime.prefork`); the lease in the database lets one node at a time reconcile.

A run that fails (the database or the flag platform unavailable) is tried again after
:data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import logging

from gateway.runtime.background_loop import BackgroundLoop
from gateway.runtime.catchup import SAFETY_MARGIN_MS
from gateway.store.unavailable import unavailable
from gateway.host.state import GatewayState

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
FOLLOW_UP = "follow-up"


class CatchUpRunner(BackgroundLoop):
    thread_name = "catch-up"

    def __init__(self, state: GatewayState, interval: float, retry_seconds: float = RETRY_SECONDS):
        super().__init__()
        self.state = state
        self.interval = interval
        self.retry_seconds = min(retry_seconds, interval)
        self._trigger = "start"

    def poke(self, trigger: str = "change") -> None:
        self._trigger = trigger
        self._wake.set()

    def start(self) -> None:
        self.state.db_watch.on_back.append(lambda: self.poke("outage-ended"))
        self.state.connection.listeners.append(lambda: self.poke("connection-changed"))
        self._start_thread()
        log.info("catch-up from the audit log every %g s (with a connection)", self.interval)

    def _loop(self) -> None:
        wait = self._once()
        while not self._stopping.is_set():
            self._wake.wait(wait)
            if self._stopping.is_set():
                return
            wait = self._once()

    def _once(self) -> float:
        """One run; returns how long to wait for the next."""
        trigger, self._trigger = self._trigger, "interval"
        self._wake.clear()
        try:
            result = self.state.catchup.run(trigger)
        except Exception as exc:  # a database hiccup must not end the catch-up for good
            if unavailable(exc) is None:
                log.exception("catch-up failed; trying again in %g s", self.retry_seconds)
            else:
                log.debug("catch-up waits for the database")
            return self.retry_seconds
        if result.get("error"):
            return self.retry_seconds
        if trigger != "interval" and trigger != FOLLOW_UP:
            # what changed in the last moments before this run is past its window's end: once more soon
            self._trigger = FOLLOW_UP
            return SAFETY_MARGIN_MS / 1000 + 1
        return self.interval
