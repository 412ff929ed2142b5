"""Reading times given by people and programs: ISO 8601 or seconds since the epoch."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch from an ISO 8601 date-time (UTC when no offset is given) or a number
    of seconds; ``ValueError`` saying what is accepted otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.timestamp()
    raise ValueError(
        f"{value!r} is not a time: give an ISO 8601 date-time (2024-05-01T12:00:00Z) or seconds since the epoch"
    )
