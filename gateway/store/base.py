"""Helpers shared by the repositories."""

from __future__ import annotations

import json
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine


def now() -> float:
    """The current time, seconds since the epoch."""
    return time.time()


def new_id() -> str:
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


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
                yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads."""
    with engine.connect() as connection:
        with connection.begin():
            yield connection


class Repository:
    def __init__(self, engine: Engine):
        self.engine = engine
