"""Paging of the API's lists: ``limit`` and an opaque ``cursor`` (newest first)."""

from __future__ import annotations

import base64
import re

from flask import request

from gateway.responses import ApiError

MAX_LIMIT = 200
_DIGITS = re.compile(r"[0-9]{1,10}")


def encode_cursor(stamp: float, row_id: str) -> str:
    """The cursor after a row: its time and id (ties on the time are broken by the id)."""
    return base64.urlsafe_b64encode(f"{stamp!r}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return float(stamp), row_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor: pass next_cursor from the previous page unchanged") from None


def page_limit(default: int = 50) -> int:
    """The request's ``limit``, 1 to :data:`MAX_LIMIT`; 400 otherwise."""
    raw = request.args.get("limit", str(default))
    # plain ASCII digits only: int() would also take "+5", "5_0", " 5" and other scripts' digits
    limit = int(raw) if _DIGITS.fullmatch(raw) else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return limit
