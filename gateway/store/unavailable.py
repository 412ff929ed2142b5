"""Which database errors mean "the database is unavailable right now", and why.

:func:`unavailable` reads an exception (SQLAlchemy's wrapper or the driver's own) and answers an
:class:`Unavailable` with one of a few fixed reasons — the label of the refusal metric and the word
in the 503 answer — or None for every other error (a bug, a constraint, bad SQL), which stays an
internal error. Known drivers: SQLite (``sqlite3``: the error name, else the message) and
PostgreSQL (psycopg 3 or psycopg2: the SQLSTATE, else the message of a failed connection); for any
other driver, an error SQLAlchemy recognises as a lost connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

# reason -> what the 503 answer and the log say about it
REASONS: dict[str, str] = {
    "unreachable": "it cannot be reached",
    "starting_up": "it is starting up",
    "shutting_down": "it is shutting down",
    "read_only": "it accepts no writes (read-only: a failover, or a file that cannot be written)",
    "disk_full": "its disk is full",
    "io_error": "it reports an I/O error",
    "locked": "it stayed locked by another writer",
    "overloaded": "it accepts no more connections",
}


@dataclass(frozen=True)
class Unavailable:
    """Why the database cannot serve now: ``reason`` (a key of :data:`REASONS`) and the driver's
    ``detail`` (its message's first line: for the log, never for an answer)."""

    reason: str
    detail: str

    @property
    def description(self) -> str:
        return REASONS[self.reason]


# SQLite: the (extended) result code's name, by prefix
_SQLITE_NAMES = (
    ("SQLITE_CANTOPEN", "unreachable"),
    ("SQLITE_READONLY", "read_only"),
    ("SQLITE_FULL", "disk_full"),
    ("SQLITE_IOERR", "io_error"),
    ("SQLITE_BUSY", "locked"),
    ("SQLITE_LOCKED", "locked"),
)
# SQLite without error names: the message
_SQLITE_MESSAGES = (
    ("unable to open database file", "unreachable"),
    ("attempt to write a readonly database", "read_only"),
    ("database or disk is full", "disk_full"),
    ("disk i/o error", "io_error"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
)

# PostgreSQL SQLSTATEs (exact) and classes (first two characters)
_SQLSTATES = {
    "57P01": "shutting_down",  # admin_shutdown: the server is stopping (fast or immediate)
    "57P02": "shutting_down",  # crash_shutdown: another backend crashed, the server restarts
    "25006": "read_only",  # read_only_sql_transaction: a standby, as after a failover
    "53100": "disk_full",
    "53300": "overloaded",  # too_many_connections
    "58030": "io_error",
}
_SQLSTATE_CLASSES = {"08": "unreachable"}  # connection exception

# A connection that could not be opened: no SQLSTATE, only the server's or libpq's message.
_CONNECT_MESSAGES = (
    ("shutting down", "shutting_down"),
    ("starting up", "starting_up"),
    ("not yet accepting connections", "starting_up"),
    ("in recovery mode", "starting_up"),
    ("too many clients", "overloaded"),
    ("too many connections", "overloaded"),
    ("read-only", "read_only"),
)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def _sqlite(error: sqlite3.Error) -> str | None:
    name = getattr(error, "sqlite_errorname", None)
    if name:
        return next((reason for prefix, reason in _SQLITE_NAMES if name.startswith(prefix)), None)
    message = str(error).lower()
    return next((reason for text, reason in _SQLITE_MESSAGES if text in message), None)


def _postgres(error: BaseException, sqlstate: str | None) -> str | None:
    if sqlstate:
        if sqlstate == "57P03":  # cannot_connect_now: starting up, shutting down or recovering
            return "shutting_down" if "shutting down" in str(error).lower() else "starting_up"
        return _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
    message = str(error).lower()
    found = next((reason for text, reason in _CONNECT_MESSAGES if text in message), None)
    if found:
        return found
    # psycopg: an OperationalError without SQLSTATE is a failed, timed-out or lost connection;
    # an InterfaceError about the connection, one already closed
    kinds = {kind.__name__ for kind in type(error).__mro__}
    if "OperationalError" in kinds or ("InterfaceError" in kinds and "connection" in message):
        return "unreachable"
    return None


def _driver_error(error: BaseException) -> tuple[BaseException, bool]:
    """The driver's exception inside SQLAlchemy's wrapper, and whether SQLAlchemy saw a lost connection."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        return error.orig, bool(error.connection_invalidated)
    if isinstance(error, sa_exc.DisconnectionError):
        return error, True
    return error, False


def unavailable(error: BaseException, *, disconnect: bool = False) -> Unavailable | None:
    """Why ``error`` means the database is unavailable now; None when it means something else.
    ``disconnect``: SQLAlchemy already judged it a lost connection. An error raised while handling
    one that means the database is unavailable (SQLite, after a full disk, has no savepoint left to
    roll back to) is that error's consequence, and answered the same."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen and len(seen) < 8:
        seen.add(id(error))
        problem = _unavailable(error, disconnect=disconnect)
        if problem is not None:
            return problem
        disconnect = False
        error = error.__cause__ or error.__context__
    return None


def _unavailable(error: BaseException, *, disconnect: bool) -> Unavailable | None:
    driver_error, invalidated = _driver_error(error)
    reason = None
    if isinstance(driver_error, sqlite3.Error):
        reason = _sqlite(driver_error)
    elif type(driver_error).__module__.split(".")[0] in ("psycopg", "psycopg2"):
        sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
        reason = _postgres(driver_error, sqlstate)
    if reason is None and (invalidated or disconnect or isinstance(driver_error, sa_exc.DisconnectionError)):
        reason = "unreachable"
    if reason is None:
        return None
    return Unavailable(reason, _first_line(driver_error))


# Errors that mean the database settings are wrong, not that the server is down: waiting or
# retrying will not help. PostgreSQL SQLSTATEs, and the messages of a connection refused for them
# (a failed connection carries no SQLSTATE in psycopg, only the server's FATAL message).
_SETTING_SQLSTATES = {
    "3D000": "database",  # invalid_catalog_name
    "28000": "role",  # invalid_authorization_specification (also: no pg_hba.conf entry)
    "28P01": "password",  # invalid_password
}
_SETTING_MESSAGES = (
    ("database \"", "does not exist", "database"),
    ("role \"", "does not exist", "role"),
    ("password authentication failed", "", "password"),
    ("no password supplied", "", "password"),
    ("no pg_hba.conf entry", "", "pg_hba"),
)
_SETTING_ADVICE = {
    "database": "the database named in GATEWAY_DATABASE_URL does not exist on that server: create it "
                "(createdb -O ROLE NAME) or correct the URL",
    "role": "the user (role) named in GATEWAY_DATABASE_URL does not exist on that server: create it "
            "(createuser --pwprompt ROLE) or correct the URL",
    "password": "the server refused the password of the user in GATEWAY_DATABASE_URL: correct the password "
                "in the URL (or the role's password on the server)",
    "pg_hba": "the server's pg_hba.conf admits no connection from this host for that user and database: "
              "add an entry on the server, or correct host, user or database in GATEWAY_DATABASE_URL",
}


def setting_problem(error: BaseException) -> str | None:
    """What to fix when ``error`` means the database *settings* are wrong (no such database or
    role, credentials refused), which no waiting cures; None for every other error, including a
    server that is down or starting (see :func:`unavailable`)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen and len(seen) < 8:
        seen.add(id(error))
        driver_error, _ = _driver_error(error)
        if type(driver_error).__module__.split(".")[0] in ("psycopg", "psycopg2"):
            sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
            kind = _SETTING_SQLSTATES.get(sqlstate or "")
            if kind is None:
                message = str(driver_error)
                kind = next((k for start, end, k in _SETTING_MESSAGES
                             if start in message and end in message.split(start, 1)[1]), None)
            if kind is not None:
                return f"{_SETTING_ADVICE[kind]} (the server said: {_first_line(driver_error)})"
        error = error.__cause__ or error.__context__
    return None
