"""Errors worth trying again: a transaction the database chose as a deadlock's victim or could not
serialize. Both mean "nothing of this transaction was written, run it again"."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
ATTEMPTS = 5

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a deadlock or serialization failure (PostgreSQL's SQLSTATE 40001 / 40P01)."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in RETRYABLE_SQLSTATES


def backoff(attempt: int) -> None:
    """A short random pause before attempt ``attempt + 1``, so that the colliding transactions part."""
    time.sleep(random.uniform(0.001, 0.01) * (2 ** attempt))


def retrying(work: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run ``work`` (one whole transaction), again after a transient error, at most ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.info("transient database error (attempt %d of %d), trying again: %s", attempt, attempts,
                     str(exc.orig).splitlines()[0] if exc.orig else exc)
            backoff(attempt)
    raise AssertionError("unreachable")
