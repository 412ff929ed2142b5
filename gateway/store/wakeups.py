"""Wake-ups across processes and nodes: PostgreSQL ``LISTEN``/``NOTIFY``.

A transaction that makes a delivery due now (an accepted event, a retry or replay by hand, deliveries
put back by a stopping worker, an integration enabled again) calls :func:`announce`; on PostgreSQL it
then sends ``NOTIFY event_gateway_work`` (payload: the schema and the sender, :func:`origin`) just
before it commits, and the database hands the notification to every listening process once the
commit is done. Each worker process keeps one :class:`WorkListener` connection that wakes its idle
workers on a notification for its schema, unless the notification is its own app's. Polling stays
the fallback: a listener that cannot connect retries in the background, and workers still look for
due work at least once a second. On other databases nothing is sent
(on SQLite the workers of the receiving process are woken in-process; others poll).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHANNEL = "event_gateway_work"
FLAG = "event_gateway_announce"
RECONNECT_SECONDS = (0.5, 1, 2, 5, 10)


def announce(connection: Connection) -> None:
    """Say, once this writing transaction commits, that there is work due now."""
    if connection.dialect.name == "postgresql":
        connection.info[FLAG] = True


_names: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def origin(engine: Engine) -> str:
    """Who sends a notification: a random name for the app's engine and this process's id (forked
    processes share the engine's name, never their id; apps of one process, as in the tests, have
    an engine each). The payload of a notification is the schema, a space, and its origin.

    A listener does not wake its workers for its own app's notifications: whatever queues work in
    an app with delivery workers (an accepted event, a retry, replay or override, an integration
    enabled again) also wakes one of them in the process as soon as it commits
    (:meth:`GatewayState.notify_new_work`), so the listener's wake, a moment later, only had a
    second worker claim the same work and find nothing. Work its workers put back when they stop
    wakes the other processes, not their own."""
    name = _names.get(engine)
    if name is None:
        name = _names.setdefault(engine, secrets.token_hex(4))
    return f"{name}.{os.getpid()}"


def wakes(payload: str, schema: str, own: str) -> bool:
    """Whether a notification received by the app whose origin is ``own`` calls for a wake: work in
    its schema queued by another app, process or node. A payload that is the schema alone comes from
    a node of an earlier version (they named no origin)."""
    if payload == schema:
        return True
    head, _, sender = payload.rpartition(" ")
    return head == schema and sender != own


def send_if_announced(connection: Connection) -> None:
    """Called by ``writing`` just before the commit: the NOTIFY, if the transaction announced work.

    Sent as it is, through the driver: it ends every intake transaction, and in a profile of a node
    under load 10% of the node's Python time went to it, four fifths of that in SQLAlchemy's handling
    of a statement (compiling, caching, its result) rather than in the driver. The origin is a
    token of hex digits, a dot and digits, safe to write into the statement."""
    if connection.info.pop(FLAG, False):
        connection.exec_driver_sql(
            f"SELECT pg_notify('{CHANNEL}', current_schema() || ' {origin(connection.engine)}')")


def clear(connection: Connection) -> None:
    connection.info.pop(FLAG, None)


class WorkListener:
    """A thread with its own PostgreSQL connection that ``LISTEN``s and calls ``wake`` on each
    notification for this database's schema. :meth:`start`, :meth:`stop`."""

    def __init__(self, engine: Engine, wake: Callable[[], None]):
        self.engine = engine
        self.wake = wake
        self.connected = threading.Event()
        self.received = 0  # notifications that woke a worker
        self.own = 0  # this app's own, not acted on (see origin)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection = None

    def start(self) -> WorkListener:
        self._thread = threading.Thread(target=self._run, name="work-listener", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _connect(self):
        import psycopg

        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        connection = psycopg.connect(*args, **kwargs, autocommit=True)
        schema = connection.execute("SELECT current_schema()").fetchone()[0]
        connection.execute(f"LISTEN {CHANNEL}")
        return connection, schema

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                connection, schema = self._connect()
            except Exception as exc:
                delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                (log.warning if failures == 0 else log.debug)(
                    "cannot listen for new work (%s); workers poll the database meanwhile, trying again in %gs",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__, delay)
                failures += 1
                self._stopping.wait(delay)
                continue
            if failures:
                log.info("listening for new work again")
            failures = 0
            self.connected.set()
            try:
                with connection:
                    while not self._stopping.is_set():
                        for notice in connection.notifies(timeout=0.5):
                            own = origin(self.engine)
                            if wakes(notice.payload, schema, own):
                                self.received += 1
                                self.wake()
                            elif notice.payload == f"{schema} {own}":
                                self.own += 1
            except Exception as exc:
                if not self._stopping.is_set():
                    log.warning("the connection listening for new work broke (%s); workers poll meanwhile", exc)
            finally:
                self.connected.clear()
