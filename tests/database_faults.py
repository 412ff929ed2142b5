"""Making an app's SQLite database fail the way a real one does, inside the test process.

:class:`SQLiteFault` hooks the engine's statement execution (SQLAlchemy's ``do_execute`` events),
so a failure takes the same path as one raised by the driver: wrapped by SQLAlchemy, seen by its
``handle_error`` event, rolled back. The errors are ``sqlite3``'s own, with the names SQLite gives
them. (The tests with real processes make the file itself unwritable; these are for the parts.)
"""

from __future__ import annotations

import re
import sqlite3
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|PRAGMA\s+user_version\s*=)", re.IGNORECASE)

ERRORS = {
    # mode: (message, SQLite result code name, code)
    "read_only": ("attempt to write a readonly database", "SQLITE_READONLY", 8),
    "disk_full": ("database or disk is full", "SQLITE_FULL", 13),
    "unreachable": ("unable to open database file", "SQLITE_CANTOPEN", 14),
}


def sqlite_error(mode: str) -> sqlite3.OperationalError:
    message, name, code = ERRORS[mode]
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name
    error.sqlite_errorcode = code
    return error


class SQLiteFault:
    """``set("read_only")`` or ``set("disk_full")``: writes fail, reads work; ``set("unreachable")``:
    every statement fails; ``clear()``: all is well again. ``failures`` counts the statements refused."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.mode: str | None = None
        self.failures = 0
        self._lock = threading.Lock()
        for name in ("do_execute", "do_execute_no_params", "do_executemany"):
            event.listen(engine, name, self._check)

    def set(self, mode: str) -> None:
        assert mode in ERRORS
        self.mode = mode

    def clear(self) -> None:
        self.mode = None

    def _check(self, cursor, statement, *args) -> None:
        mode = self.mode
        if mode is None:
            return
        if mode == "unreachable" or WRITE.match(statement):
            with self._lock:
                self.failures += 1
            raise sqlite_error(mode)
