"""Helpers shared by the repositories."""

from __future__ import annotations

import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from . import wakeups
from .transient import backoff, is_transient, retrying


def now() -> float:
    """The current time, seconds since the epoch."""
    return time.time()


def new_id() -> str:
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def loads(value: str | None) -> Any:
    return json.loads(value) if value else None


_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_sqlite_writers_guard = threading.Lock()


def _writer_lock(engine: Engine):
    """On SQLite, the threads of one process that write take turns on a lock: SQLite's own wait for
    its write lock sleeps milliseconds at a time, a lock hands over at once. (Processes still wait
    for each other through SQLite's busy timeout.)"""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _sqlite_writers_guard:
        return _sqlite_writers.setdefault(engine, threading.RLock())


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes (on SQLite it takes the write lock at BEGIN)."""
    with _writer_lock(engine):
        with engine.connect().execution_options(writing=True) as connection:
            with connection.begin():
                try:
                    yield connection
                    wakeups.send_if_announced(connection)  # delivered by the database at the commit
                finally:
                    wakeups.clear(connection)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads."""
    with engine.connect() as connection:
        with connection.begin():
            yield connection


T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("work", "order", "done", "value", "error")

    def __init__(self, work: Callable[[Connection], T], order: str):
        self.work = work
        self.order = order
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Writes of several threads share one transaction and one commit (group commit).

    :meth:`run` queues a unit of work; the first thread to find no commit under way leads: it takes
    every queued unit, runs each in a savepoint of one writing transaction and commits, while the
    others wait. Each caller returns only after the commit that holds its work, so what it answers
    is as durable as with a transaction of its own; a unit that raises is rolled back to its
    savepoint and raises for its caller alone. Under load this turns many short transactions, each
    waiting for the write lock, into a few larger ones. A transaction chosen as a deadlock's victim
    (or that could not be serialized) is run again whole (:mod:`.transient`): units must be safe to
    run again.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._cond = threading.Condition()
        self._queue: list[_Job[Any]] = []
        self._leading = False

    def run(self, work: Callable[[Connection], T], order: str = "") -> T:
        """Run ``work`` in the next commit; returns its value once that commit is done. Units of one
        batch run sorted by ``order``: units that lock rows by a key (an event's dedupe key) take
        them in one order on every node, so that batches of two nodes do not deadlock."""
        job: _Job[T] = _Job(work, order)
        with self._cond:
            self._queue.append(job)
            while self._leading and not job.done:
                self._cond.wait()
            if not job.done:
                self._leading = True
                batch, self._queue = self._queue, []
        if not job.done:
            self._lead(batch)
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]

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
            with self._cond:
                for item in batch:
                    item.done = True
                self._leading = False
                self._cond.notify_all()

    def _commit(self, batch: list[_Job[Any]]) -> None:
        """One transaction for the batch (run again whole by :meth:`_lead` after a deadlock or
        serialization failure, which rolls all of it back)."""
        for item in batch:
            item.error = item.value = None
        with writing(self.engine) as connection:
            if len(batch) == 1:  # alone, the transaction itself is the unit
                batch[0].value = batch[0].work(connection)
                return
            for item in sorted(batch, key=lambda job: job.order):
                try:
                    with connection.begin_nested():
                        item.value = item.work(connection)
                except Exception as exc:
                    if is_transient(exc):
                        # A deadlock's victim: the locks the batch took before this unit are still
                        # held, so only running the whole batch again (after a pause) gets by.
                        raise
                    item.error = exc


_group_commits: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit(engine: Engine) -> GroupCommit:
    """The :class:`GroupCommit` of ``engine`` (one per engine, shared by its repositories)."""
    with _sqlite_writers_guard:
        committer = _group_commits.get(engine)
        if committer is None:
            committer = _group_commits[engine] = GroupCommit(engine)
        return committer


class Repository:
    def __init__(self, engine: Engine):
        self.engine = engine
