"""Starting before the database is up: the schema upgrade is tried again for a bounded time
(``GATEWAY_DATABASE_WAIT_SECONDS``), saying so in the log, while the database is unavailable in the
sense of :func:`~.causes.unavailable`. Wrong settings (no such database or role, refused
credentials) end the start at once with what to fix: no waiting cures them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from gateway.store.unavailable import setting_problem, unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_EVERY_SECONDS = 10.0
LONGEST_PAUSE_SECONDS = 5.0


class DatabaseSettingsWrong(Exception):
    """The database settings are wrong; the message says what to fix."""


class DatabaseNotReady(Exception):
    """The database stayed unavailable for the whole wait; the message says why and for how long."""


def when_database_ready(attempt: Callable[[], T], wait_seconds: float, *,
                        sleep: Callable[[float], None] = time.sleep,
                        clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``attempt`` (the start-up transaction); while it fails because the database is unavailable,
    try again with growing pauses until ``wait_seconds`` have passed, logging the wait when it starts
    and every ten seconds. With no wait (``wait_seconds`` 0) an outage's error is raised as it is. Raises :class:`DatabaseSettingsWrong` or :class:`DatabaseNotReady` with a
    message for the operator; any other error is raised as it is."""
    deadline = clock() + wait_seconds
    pause = 0.25
    next_log = clock()
    waited = False
    while True:
        try:
            result = attempt()
        except SQLAlchemyError as exc:
            problem = setting_problem(exc)
            if problem is not None:
                raise DatabaseSettingsWrong(problem) from None
            down = unavailable(exc)
            if down is None:
                raise
            if wait_seconds <= 0:
                raise  # no wait asked for: the error as it is, answered like any other outage
            left = deadline - clock()
            if left <= 0:
                raise DatabaseNotReady(f"the database is unavailable: {down.description} ({down.detail}) "
                                       f"after waiting {wait_seconds:g} s (GATEWAY_DATABASE_WAIT_SECONDS)") from None
            if clock() >= next_log:
                log.warning("waiting for the database: %s (%s); %.0f s left of GATEWAY_DATABASE_WAIT_SECONDS=%g",
                            down.description, down.detail, left, wait_seconds)
                next_log = clock() + LOG_EVERY_SECONDS
            waited = True
            sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
            continue
        if waited:
            log.info("the database is ready; starting")
        return result
