"""The engine: connection set-up (SQLite pragmas), schema upgrade, and the repositories."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError

from gateway.store import migrations
from gateway.store.api_tokens import ApiTokenStore
from gateway.store.audit_log import AuditLogStore
from gateway.store.base import forget_engine
from gateway.store.check_results import CheckResultStore
from gateway.store.checkpoint import AUTOCHECKPOINT_PAGES, Checkpointer
from gateway.store.cooldowns import CooldownStore
from gateway.store.decision_history import DecisionHistoryStore
from gateway.store.connections import ConnectionStore
from gateway.store.deliveries import DeliveryStore
from gateway.store.events import EventStore
from gateway.store.flag_holds import FlagHoldStore
from gateway.store.integrations import IntegrationStore
from gateway.store.ui_sessions import UiSessionStore
from gateway.store.wakeups import WorkListener


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL waits for the lock too
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode, durable across a process crash
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")  # see checkpoint.py
    cursor.close()


def _begin(connection) -> None:
    # A writing transaction takes the write lock at BEGIN, so two writers queue (busy_timeout)
    # instead of one failing mid-transaction; a reading one reads its WAL snapshot without locking.
    if connection.get_execution_options().get("writing"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


POSTGRES_CONNECT_TIMEOUT = 5  # seconds; a URL's own ?connect_timeout= wins
PING_AFTER_IDLE_SECONDS = 1.0
POOL_SIZE = 10  # kept connections per process: the worker threads, the group commits and requests share them
POOL_OVERFLOW = 20


def _stamp_checkin(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Callable:
    """A pool ``checkout`` listener: ping a connection that sat in the pool for more than
    ``PING_AFTER_IDLE_SECONDS`` (the server may have gone away meanwhile: a restart, a failover),
    and have the pool replace it if the ping fails. A connection given back a moment ago is not
    pinged: SQLAlchemy's ``pool_pre_ping`` would add a round trip to every transaction, which on
    the delivery queue's short transactions cost as much as the work itself. A connection broken
    within that second fails its statement instead, which invalidates the pool as a disconnect."""
    def checkout(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"the pooled connection is gone: {exc}") from exc
        if alive is False:
            raise DisconnectionError("the pooled connection is gone")
    return checkout


def _server_engine(url: str, **kwargs) -> Engine:
    engine = create_engine(url, future=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, **kwargs)
    event.listen(engine.pool, "checkin", _stamp_checkin)
    event.listen(engine.pool, "checkout", _ping_if_idle(engine))
    return engine


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # A server that does not answer at all (a failover that moved its address) fails the
        # connection in seconds, answered 503, rather than holding the request for minutes.
        return _server_engine(url, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT})
    if parsed.get_backend_name() != "sqlite":
        return _server_engine(url)
    if parsed.database and parsed.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        pool_size=20, max_overflow=20, future=True,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


class Database:
    """One database: its engine and the repositories that read and write it."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.checkpointer = Checkpointer(self.engine) if self.is_sqlite else None
        if self.checkpointer is not None:
            event.listen(self.engine, "commit", self._committed)
        self.integrations = IntegrationStore(self.engine)
        self.events = EventStore(self.engine)
        self.deliveries = DeliveryStore(self.engine)
        self.connections = ConnectionStore(self.engine)
        self.check_results = CheckResultStore(self.engine)
        self.cooldowns = CooldownStore(self.engine)
        self.flag_holds = FlagHoldStore(self.engine)
        self.history = DecisionHistoryStore(self.engine)
        self.ui_sessions = UiSessionStore(self.engine)
        self.api_tokens = ApiTokenStore(self.engine)
        self.audit_log = AuditLogStore(self.engine)

    def _committed(self, connection) -> None:
        if connection.get_execution_options().get("writing"):
            self.checkpointer.wrote()

    def upgrade(self, then: Callable[[Connection], None] | None = None) -> str:
        """Create or upgrade the schema in place, under the start-up lock (see ``migrations``), then
        run ``then`` in the same transaction and lock (start-up checks). Returns the revision."""
        def work(connection: Connection) -> str:
            _, revision = migrations.upgrade(connection)
            if then is not None:
                then(connection)
            return revision

        return migrations.run_at_startup(self.engine, work)

    def revision(self) -> str | None:
        """The schema revision the database is at (None: empty)."""
        with self.engine.connect() as connection:
            return migrations.current(connection)

    def listen_for_work(self, wake: Callable[[], None]) -> WorkListener | None:
        """On PostgreSQL, a started :class:`WorkListener` calling ``wake`` when another process or node
        queues work (None elsewhere: workers poll)."""
        if self.engine.dialect.name != "postgresql":
            return None
        return WorkListener(self.engine, wake).start()

    def ping(self) -> None:
        """Raise when the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def before_fork(self) -> None:
        """Stop the checkpoint thread (with a last checkpoint) and close the pooled connections, so
        that no child process inherits a connection in use or a lock held by a thread it lacks."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.events.release()
        self.deliveries.release_writer()
        self.engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: open connections of its own (leaving the parent's alone), and its own
        checkpoint thread, writer lock and group commit."""
        self.engine.dispose(close=False)
        forget_engine(self.engine)
        self.events = EventStore(self.engine)
        self.deliveries = DeliveryStore(self.engine)
        if self.checkpointer is not None:
            self.checkpointer = Checkpointer(self.engine)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.events.release()
        self.deliveries.release_writer()
        self.engine.dispose()
