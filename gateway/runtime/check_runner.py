"""The background checks: every enabled integration and the flag-platform connection are checked
after each change and every ``GATEWAY_CHECK_INTERVAL_SECONDS``.

One thread (started by ``event-gateway serve``, in one process per node: see :mod:`gateway.runtime.prefork`)
looks every :data:`POLL_SECONDS` for what is due: a subject never checked, changed since its last check
(also by another process, such as the CLI), or checked longer ago than the interval. A change made in
this process wakes it at once; so does one made by a sibling process of a pre-fork server, which
counts its changes in ``changes`` (looked at every :data:`CHANGES_POLL_SECONDS`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.runtime.background_loop import BackgroundLoop
from gateway.runtime.checks import CheckError
from gateway.store.unavailable import unavailable
from gateway.host.state import GatewayState
from gateway.runtime.status import (CONNECTION_SUBJECT, integration_subject, run_connection_checks,
                     run_integration_checks)
from gateway.store.base import now

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
CHANGES_POLL_SECONDS = 0.25


class CheckRunner(BackgroundLoop):
    thread_name = "background-checks"

    def __init__(self, state: GatewayState, interval: float, poll_seconds: float = POLL_SECONDS,
                 changes: Callable[[], int] | None = None):
        super().__init__()
        self.state = state
        self.interval = interval
        self.poll_seconds = poll_seconds
        self._changes = changes

    def start(self) -> None:
        self.state.integrations.listeners.append(self.poke)
        self.state.connection.listeners.append(self.poke)
        self._start_thread()
        log.info("background checks every %g s", self.interval)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            seen = self._changes() if self._changes is not None else None
            try:
                self.run_due()
            except Exception as exc:  # a database hiccup must not end the checks for good
                if unavailable(exc) is None:
                    log.exception("background checks failed; trying again in %g s", self.poll_seconds)
                else:  # a database outage: the database watch says so, once
                    log.debug("background checks wait for the database")
            self._wait(seen)

    def _wait(self, seen: int | None) -> None:
        """Until the next look: ``poll_seconds``, a poke, or (with ``changes``) a change counted
        by a sibling process."""
        if self._changes is None:
            self._wake.wait(self.poll_seconds)
            return
        deadline = time.monotonic() + self.poll_seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._wake.wait(min(CHANGES_POLL_SECONDS, left)) or self._changes() != seen:
                return

    def _due(self, subject: str, updated_at: float, at: float) -> bool:
        stored = self.state.db.check_results.get(subject)
        return (stored is None or stored.subject_updated_at != updated_at
                or at - stored.checked_at >= self.interval)

    def run_due(self) -> int:
        """Run every check that is due; returns how many subjects were checked."""
        ran = 0
        at = now()
        # Read the rows here rather than through IntegrationService.enabled(): its short cache serves
        # the intake, and a read made here must not hold a list the intake then uses.
        for row in self.state.db.integrations.list(enabled_only=True):
            active = self.state.integrations.active(row)
            if self._stopping.is_set():
                return ran
            if active.plugin is None or active.error:
                continue
            if self._due(integration_subject(active.row.id), active.row.updated_at, at):
                try:
                    run_integration_checks(self.state, active)
                    ran += 1
                except CheckError as exc:
                    log.warning("integration %s cannot be checked: %s", active.row.id, exc.message)
        connection = self.state.connection.current()
        if connection is not None and self._due(CONNECTION_SUBJECT, connection.updated_at, at):
            run_connection_checks(self.state)
            ran += 1
        return ran


_running: set[str] = set()
_running_lock = threading.Lock()


def check_in_background(state: GatewayState, integration_id: str) -> threading.Thread | None:
    """Run the checks of one integration now, in a thread of their own, and store the result (a
    page asks for them and answers at once); None when they are running already."""
    with _running_lock:
        if integration_id in _running:
            return None
        _running.add(integration_id)

    def run() -> None:
        try:
            row = state.db.integrations.get(integration_id)
            active = state.integrations.active(row) if row is not None else None
            if active is not None and active.plugin is not None and not active.error:
                run_integration_checks(state, active)
        except CheckError as exc:
            log.warning("integration %s cannot be checked: %s", integration_id, exc.message)
        except Exception:
            log.exception("the checks of integration %s failed", integration_id)
        finally:
            with _running_lock:
                _running.discard(integration_id)

    thread = threading.Thread(target=run, name=f"checks-{integration_id}", daemon=True)
    thread.start()
    return thread
