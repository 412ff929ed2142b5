"""Helpers shared by the repositories."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from gateway.store import wakeups
from gateway.store.transient import is_transient, retrying
from gateway.store.unavailable import unavailable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def now() -> float:
    """The current time, seconds since the epoch."""
    return time.time()


class _Ids:
    """Unique ids, cheaply: a random 80-bit prefix drawn per process (again after a fork) and a
    counter, laid out as a UUID string (8-4-4-4-12 hex digits)."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        prefix = uuid.uuid4().hex[:20]
        self._head = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"
        self._counter = itertools.count(secrets.randbelow(1 << 40))  # next() is atomic under the GIL

    def __call__(self) -> str:
        return f"{self._head}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


new_id = _Ids()
"""A new id for a row: unique across processes and restarts (random per-process prefix), and
about ten times cheaper to make than ``str(uuid.uuid4())``."""
os.register_at_fork(after_in_child=new_id.reseed)


def takes_arrays(dialect) -> bool:
    """PostgreSQL through psycopg: a statement may take a column of many rows as one array parameter
    (``unnest``), so that a batch is one statement, not one per row."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def loads(value: str | None) -> Any:
    return json.loads(value) if value else None


class _WriterLock:
    """The turn to write on one SQLite database. Threads of one process take turns on a lock, and
    processes on an exclusive ``flock`` of a file beside the database (``<database>-writer.lock``):
    both hand over at once, where SQLite's own wait for its write lock (the busy timeout) sleeps up
    to tens of milliseconds at a time, which is what a webhook would wait under load. Programs
    that do not take the file lock (the sqlite3 shell) are still waited for by the busy timeout."""

    def __init__(self, path: str | None):
        self._lock = threading.RLock()
        self._path = path
        self._depth = 0
        self._file = None
        self._pid = 0

    def _lock_file(self):
        if self._file is None or self._pid != os.getpid():  # a forked child opens its own
            # private, as the database files are (see gateway.runtime.instance_folder); kept open for the
            # process's life
            self._file = os.fdopen(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
            self._pid = os.getpid()
        return self._file

    def __enter__(self) -> None:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1 and self._path is not None and fcntl is not None:
            try:
                fcntl.flock(self._lock_file().fileno(), fcntl.LOCK_EX)
            except OSError:  # a folder without locks: the busy timeout alone then
                self._path = None

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._depth == 1 and self._path is not None and fcntl is not None and self._file is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._depth -= 1
            self._lock.release()


_sqlite_writers: weakref.WeakKeyDictionary[Engine, _WriterLock] = weakref.WeakKeyDictionary()
_sqlite_writers_guard = threading.Lock()


def _writer_lock(engine: Engine):
    """On SQLite, the writers of one database take turns (:class:`_WriterLock`)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _sqlite_writers_guard:
        found = _sqlite_writers.get(engine)
        if found is None:
            database = engine.url.database
            path = None if not database or database == ":memory:" or database.startswith("file:") else (
                os.path.abspath(database) + "-writer.lock")
            found = _sqlite_writers[engine] = _WriterLock(path)
        return found


@contextmanager
def _write_transaction(connection: Connection) -> Iterator[Connection]:
    """One writing transaction on ``connection``, with the wake-up it announced sent just before the
    commit (delivered by the database at the commit)."""
    with connection.begin():
        try:
            yield connection
            wakeups.send_if_announced(connection)
        finally:
            wakeups.clear(connection)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes (on SQLite it takes the write lock at BEGIN)."""
    with _writer_lock(engine):
        with engine.connect().execution_options(writing=True) as connection:
            with _write_transaction(connection):
                yield connection


class KeptWriter:
    """The writing connection of one group commit (:class:`BatchCommit`) on SQLite, kept between its
    transactions: each transaction is still its own (``BEGIN IMMEDIATE`` under the writer lock,
    committed or rolled back as by :func:`writing`), but checking a connection out of the pool and
    back in cost more than the rest of the transaction around the SQL. Only one leader writes at a
    time, so one connection is enough. After a failed transaction the connection is closed and the
    next one checks out a new one, as :func:`writing` would. Elsewhere (PostgreSQL) each transaction
    checks its connection out, so that the pool's ping finds a server that went away in between."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._connection: Connection | None = None
        self._pid = os.getpid()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        if self.engine.dialect.name != "sqlite":
            with writing(self.engine) as connection:
                yield connection
            return
        with _writer_lock(self.engine):
            connection = self._connection
            if connection is not None and self._pid != os.getpid():
                _inherited.append(connection)  # a parent's (forked without release): never used, never closed here
                connection = None
            if connection is None or connection.invalidated:
                connection = self._connection = self.engine.connect().execution_options(writing=True)
                self._pid = os.getpid()
            done = False
            try:
                with _write_transaction(connection):
                    yield connection
                done = True
            finally:
                if not done:
                    self.release()

    def release(self) -> None:
        """Give the kept connection back (after a failure, before a fork, when the database closes):
        after the transaction that may be using it."""
        if self._connection is None:
            return
        with _writer_lock(self.engine):
            connection, self._connection = self._connection, None
            if connection is None:
                return
            if self._pid != os.getpid():
                _inherited.append(connection)  # a parent's, in a child: left alone
                return
            try:
                connection.close()
            except Exception:  # a broken connection: the pool drops it
                pass


_inherited: list[Connection] = []
"""Kept connections a forked child inherited: held so that collecting them never touches the parent's
database connection from the child (``serve`` releases them before it forks)."""


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads."""
    with engine.connect() as connection:
        with connection.begin():
            yield connection


T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("work", "order", "done", "value", "error", "wake")

    def __init__(self, work: Any, order: str = ""):
        self.work = work
        self.order = order
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()  # held until a leader wakes this job's thread
        self.wake.acquire()


class _Turns:
    """The queue of a group commit. :meth:`run` queues a job; the first thread to find no leader
    leads: it takes every queued job, writes them (:meth:`_lead`) and commits, then wakes the
    threads whose jobs it wrote, each on its own lock (no thundering herd), and hands the lead to
    the oldest job queued meanwhile. Each caller returns only after the commit holding its job."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._queue: list[_Job[Any]] = []
        self._leading = False

    def run(self, work: Any, order: str = "") -> Any:
        job: _Job[Any] = _Job(work, order)
        with self._mutex:
            self._queue.append(job)
            follow, self._leading = self._leading, True
        if follow:
            job.wake.acquire()  # woken when done, or to lead
        if not job.done:
            with self._mutex:
                batch, self._queue = self._queue, []
            try:
                self._lead(batch)
            finally:
                for item in batch:
                    item.done = True
                    if item is not job:
                        item.wake.release()
                with self._mutex:
                    if self._queue:
                        self._queue[0].wake.release()  # its thread leads next; still leading
                    else:
                        self._leading = False
        if job.error is not None:
            raise job.error
        return job.value

    def _lead(self, batch: list[_Job[Any]]) -> None:
        raise NotImplementedError


class GroupCommit(_Turns):
    """Writes of several threads share one transaction and one commit (group commit).

    :meth:`run` queues a unit of work (a function of the connection); the leader (see
    :class:`_Turns`) runs each queued unit in a savepoint of one writing transaction and commits.
    What a caller answers is as durable as with a transaction of its own; a unit that raises is
    rolled back to its savepoint and raises for its caller alone. Under load this turns many short
    transactions, each waiting for the write lock, into a few larger ones. A transaction chosen as a
    deadlock's victim (or that could not be serialized) is run again whole (:mod:`.transient`):
    units must be safe to run again.
    """

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine

    def run(self, work: Callable[[Connection], T], order: str = "") -> T:
        """Run ``work`` in the next commit; returns its value once that commit is done. Units of one
        batch run sorted by ``order``: units that lock rows by a key (an event's dedupe key) take
        them in one order on every node, so that batches of two nodes do not deadlock."""
        return super().run(work, order)

    def _lead(self, batch: list[_Job[Any]]) -> None:
        try:
            retrying(lambda: self._commit(batch))
        except BaseException as exc:  # the commit failed: nothing of the batch was written
            for item in batch:
                if item.error is None:
                    item.error, item.value = exc, None
            if not isinstance(exc, Exception):
                raise
        finally:
            for item in batch:
                item.done = True

    def _commit(self, batch: list[_Job[Any]]) -> None:
        """One transaction for the batch (run again whole by :meth:`_lead` after a deadlock or
        serialization failure, which rolls all of it back)."""
        for item in batch:
            item.error = item.value = None
        with writing(self.engine) as connection:
            if len(batch) == 1:  # alone, the transaction itself is the unit
                batch[0].value = batch[0].work(connection)
                return
            for number, item in enumerate(sorted(batch, key=lambda job: job.order)):
                _require_open_transaction(connection, batch, started=number > 0)
                try:
                    with connection.begin_nested():
                        item.value = item.work(connection)
                except Exception as exc:
                    if is_transient(exc):
                        # A deadlock's victim: the locks the batch took before this unit are still
                        # held, so only running the whole batch again (after a pause) gets by.
                        raise
                    item.error = exc
            _require_open_transaction(connection, batch)


class BatchCommit(_Turns):
    """Group commit for writes that are data, not code: the leader (see :class:`_Turns`) writes
    every queued job with one call of ``write_batch(connection, jobs)`` (so one statement per table
    for the whole batch) in one transaction, and calls ``committed(jobs)`` once it is committed.
    ``one_statement(jobs)``, when given, may instead answer a function that writes the whole batch
    with a single statement (not on SQLite): that runs on its own, without a transaction around it.
    ``write_batch`` returns one result per job, in order; jobs come to it sorted by their ``order``
    (rows locked by a key are taken in one order on every node, so that two nodes do not deadlock).

    A batch chosen as a deadlock's victim (or that could not be serialized) is written again whole
    (:mod:`.transient`). Should it fail otherwise, because the database is unavailable, every job
    fails with that error; for any other error each job is written again alone, in a transaction of
    its own, so that a job that cannot be written fails for its caller only."""

    def __init__(self, engine: Engine, write_batch: Callable[[Connection, list[Any]], list[Any]],
                 committed: Callable[[list[Any]], None] | None = None, *,
                 one_statement: Callable[[list[Any]], Callable[[Connection], list[Any]] | None] | None = None):
        super().__init__()
        self.engine = engine
        self._write_batch = write_batch
        self._committed = committed
        self._one_statement = one_statement if engine.dialect.name != "sqlite" else None
        self.writer = KeptWriter(engine)

    def _write(self, entries: list[_Job[Any]]) -> None:
        entries = sorted(entries, key=lambda entry: entry.order)
        jobs = [entry.work for entry in entries]
        single = self._one_statement(jobs) if self._one_statement is not None else None
        if single is not None:
            # One statement writes the whole batch: it is atomic by itself, and committed as it runs
            # (no BEGIN and COMMIT round trips around it).
            with self.engine.connect() as connection:
                values = single(connection.execution_options(isolation_level="AUTOCOMMIT"))
        else:
            with self.writer.writing() as connection:
                values = self._write_batch(connection, jobs)
                _require_open_transaction(connection, [])
        for entry, value in zip(entries, values):
            entry.value = value
        if self._committed is not None:
            self._committed(jobs)

    def _lead(self, batch: list[_Job[Any]]) -> None:
        try:
            try:
                retrying(lambda: self._write(batch))
            except Exception as exc:
                if len(batch) == 1 or unavailable(exc) is not None:
                    for entry in batch:
                        entry.error = exc
                else:  # find the job that broke it: each alone
                    for entry in batch:
                        try:
                            retrying(lambda entry=entry: self._write([entry]))
                        except Exception as alone:
                            entry.error = alone
        except BaseException as exc:
            for entry in batch:
                if entry.value is None and entry.error is None:
                    entry.error = exc
            raise
        finally:
            for entry in batch:
                entry.done = True


def _require_open_transaction(connection: Connection, batch: list[_Job[Any]], started: bool = True) -> None:
    """Raise the batch's first error if its transaction is gone (``started``: a statement ran in it).

    A lost connection takes the transaction with it: the next unit could not even start. And after
    some errors (a full disk, an I/O error) SQLite rolls the whole transaction back, not just the
    failed unit's savepoint: the units before it are gone too, a unit run now would commit on its own,
    and the final commit would do nothing, silently. On PostgreSQL, a transaction ended or aborted
    under a unit (one that could not even roll back to its savepoint) would likewise end in a commit
    that writes nothing. Either way the whole batch fails."""
    if connection.invalidated:
        gone = True
    elif connection.dialect.name == "sqlite":
        gone = not connection.connection.dbapi_connection.in_transaction
    elif connection.dialect.name == "postgresql":
        gone = _postgres_transaction_gone(connection.connection.dbapi_connection, started)
    else:
        gone = False
    if not gone:
        return
    cause = next((item.error for item in batch if item.error is not None), None)
    raise cause if cause is not None else RuntimeError("the database ended the transaction")


_PG_IDLE, _PG_INERROR, _PG_UNKNOWN = 0, 3, 4  # libpq's PGTransactionStatusType, as both drivers give it


def _postgres_transaction_gone(dbapi_connection: Any, started: bool) -> bool:
    info = getattr(dbapi_connection, "info", None)  # psycopg 3
    if info is not None and hasattr(info, "transaction_status"):
        status = int(info.transaction_status)
    elif hasattr(dbapi_connection, "get_transaction_status"):  # psycopg2
        status = int(dbapi_connection.get_transaction_status())
    else:
        return False
    # Idle before the first statement is a transaction not begun yet (the driver begins it then).
    return status in (_PG_INERROR, _PG_UNKNOWN) or (started and status == _PG_IDLE)


_group_commits: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()


def forget_engine(engine: Engine) -> None:
    """Drop the writer lock and group commit of ``engine`` (in a forked child: those it inherited
    belong to the parent's threads)."""
    global _sqlite_writers_guard
    _sqlite_writers_guard = threading.Lock()
    _sqlite_writers.pop(engine, None)
    _group_commits.pop(engine, None)


def group_commit(engine: Engine) -> GroupCommit:
    """The :class:`GroupCommit` of ``engine`` (one per engine, shared by its repositories)."""
    with _sqlite_writers_guard:
        committer = _group_commits.get(engine)
        if committer is None:
            committer = _group_commits[engine] = GroupCommit(engine)
        return committer


class DriverStatement:
    """One of the queue's hottest statements, run with ``exec_driver_sql``: for two short writes per
    delivery, SQLAlchemy's execution of a compiled construct (cache look-up, parameter processing,
    result set-up) costs more than the database's own work. The construct is compiled once per
    dialect, with named parameters (``column_keys``: the columns an INSERT is given); it still runs
    in the caller's transaction, with the engine's events and error handling (outages are still
    seen). Values are passed to the driver as they are: give them in the columns' Python types.
    Given a list of parameter sets, the driver runs the statement once per set (``executemany``).
    A dialect without named parameters runs the construct as usual."""

    def __init__(self, statement: Any, column_keys: tuple[str, ...] | None = None):
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, tuple[str, dict[str, Any]] | None] = {}

    def execute(self, connection: Connection, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        dialect = connection.dialect
        key = f"{dialect.name}+{dialect.driver}"
        if key not in self._compiled:
            self._compiled[key] = self._compile(dialect)
        compiled = self._compiled[key]
        if compiled is None:
            return connection.execute(self.statement, params)
        sql, fixed = compiled
        if fixed:
            params = [{**fixed, **p} for p in params] if isinstance(params, list) else {**fixed, **params}
        return connection.exec_driver_sql(sql, params)

    def _compile(self, dialect: Any) -> tuple[str, dict[str, Any]] | None:
        if dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite

            dialect = sqlite.dialect(paramstyle="named")  # the sqlite3 module takes :name too
        elif dialect.paramstyle not in ("named", "pyformat"):
            return None
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        if any(bind.expanding for bind in compiled.bind_names):
            return None  # IN lists are rendered per execution
        # the values the construct itself carries (``status == "in_flight"``, ``lease_owner=None``)
        fixed = {name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required}
        return compiled.string, fixed


class Repository:
    def __init__(self, engine: Engine):
        self.engine = engine
