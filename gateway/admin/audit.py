"""The record of admin actions: what was done, to what, and where it came from (``api``, ``ui`` or ``cli``).

Each action is one line on the ``gateway.audit`` logger. Secrets never appear: callers pass ids,
names and counts only.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("gateway.audit")

ORIGINS = frozenset({"api", "ui", "cli"})


def record(what: str, origin: str, /, **details: Any) -> None:
    """Log one admin action, e.g. ``record("integration.create", "ui", integration="…")``."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    shown = " ".join(f"{key}={value}" for key, value in details.items() if value is not None)
    log.info("admin action %s origin=%s%s", what, origin, f" {shown}" if shown else "",
             extra={"audit_action": what, "audit_origin": origin, "audit_details": details})
