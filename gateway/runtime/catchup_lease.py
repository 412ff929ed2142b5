"""The catch-up lease: one process of one node reconciles from the audit log at a time.

A row of ``gateway_meta`` holds ``{"holder": ..., "until": ...}``; a process takes it when it is
free or ran out, by compare-and-set (an ``UPDATE ... WHERE value = <what it read>``, or an insert
when there is none), so two processes that read the same row cannot both win. That works alike on
SQLite (across the processes sharing the file) and on PostgreSQL (across nodes). A crashed holder's
lease runs out after :data:`LEASE_SECONDS`.
"""

from __future__ import annotations

import json
import os
import socket
import uuid

from sqlalchemy import Engine

from gateway.store import meta
from gateway.store.base import now, writing

LEASE_KEY = "catchup_lease"
LEASE_SECONDS = 120.0


class CatchUpLease:
    def __init__(self, engine: Engine, seconds: float = LEASE_SECONDS):
        self.engine = engine
        self.seconds = seconds
        self._token = uuid.uuid4().hex[:8]

    @property
    def holder(self) -> str:
        """This process (the processes of a pre-fork server share the object, not the lease)."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._token}"

    def _read(self, connection) -> tuple[str | None, dict]:
        raw = meta.read(connection, LEASE_KEY)
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            value = {}
        return raw, value if isinstance(value, dict) else {}

    def take(self) -> str | None:
        """Take (or renew) the lease; None when taken, else who holds it."""
        with writing(self.engine) as connection:
            raw, value = self._read(connection)
            holder, until = value.get("holder"), value.get("until")
            if raw and holder != self.holder and isinstance(until, (int, float)) and until > now():
                return str(holder)
            mine = json.dumps({"holder": self.holder, "until": now() + self.seconds})
            if meta.compare_and_set(connection, LEASE_KEY, raw, mine):
                return None
        return "another process"

    def give_back(self) -> None:
        with writing(self.engine) as connection:
            raw, value = self._read(connection)
            if raw and value.get("holder") == self.holder:
                meta.compare_and_set(connection, LEASE_KEY, raw, json.dumps({"holder": None, "until": 0}))
