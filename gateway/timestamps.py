"""Reading times given by people and programs: ISO 8601 or seconds since the epoch."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

_SECONDS = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?")
_LIMIT = 1e11  # about the year 5000: past it, a number of seconds is a mistake


def _finite(given: Any) -> float:
    try:
        seconds = float(given)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or abs(seconds) > _LIMIT:
        raise ValueError(f"{given!r} is not a time: seconds since the epoch must be a finite number "
                         f"within +-{_LIMIT:.0e}")
    return seconds


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch from an ISO 8601 date-time (UTC when no offset is given) or a number
    of seconds; ``ValueError`` saying what is accepted otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return _finite(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if _SECONDS.fullmatch(text):  # float() alone would take "nan", "inf", "1_0" and other digits
            return _finite(text)
        try:
            when = datetime.fromisoformat(text) if text.isascii() else None
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.timestamp()
    raise ValueError(
        f"{value!r} is not a time: give an ISO 8601 date-time (2024-05-01T12:00:00Z) or seconds since the epoch"
    )
