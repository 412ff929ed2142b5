"""Schema upgrades with Alembic, run at start-up under a lock.

The revisions live in ``gateway/store/alembic/versions`` (shipped with the package); a release that
changes the schema adds one and never edits an old one. Every process upgrades the database on start
(:func:`run_at_startup`), inside one transaction that first takes a lock, so that any number of
processes starting together on a fresh database take turns and never collide: on PostgreSQL a
transaction-scoped advisory lock (one per schema), on SQLite the database's write lock
(``BEGIN IMMEDIATE``), taken again a few times should SQLite give up waiting for it. The last to get
the lock finds nothing left to do.

A database made by release 0.1 (``gateway_meta.schema_version`` = 1, no Alembic table) is recognised
and recorded as revision ``0001``, then upgraded in place. A database at a revision this code does not
know (made by a newer release) is refused.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from gateway.store import tables
from gateway.store.base import writing

log = logging.getLogger(__name__)
# Alembic tells at INFO which dialect it found on every start; the upgrade itself is logged below.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

SCRIPT_LOCATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alembic")
V1_REVISION = "0001"  # the schema of release 0.1
LOCK_ATTEMPTS = 8  # SQLite: how many times the write lock is tried (each waits up to busy_timeout)

T = TypeVar("T")


class SchemaTooNew(RuntimeError):
    """The database is at a revision this gateway does not know: a newer release made it."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows (one line of history: two heads are a packaging error)."""
    heads = scripts().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the gateway's schema revisions have {len(heads)} heads ({', '.join(sorted(heads))}): "
                           "each revision must follow the newest one (see docs/architecture.md)")
    return heads[0]


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


def history() -> list[Revision]:
    """Every revision, oldest first."""
    return [Revision(s.revision, s.down_revision if isinstance(s.down_revision, str) else None,
                     (s.doc or "").strip())
            for s in reversed(list(scripts().walk_revisions()))]


def _legacy_version(connection: Connection) -> int | None:
    """The ``schema_version`` of a database made before Alembic (None: not such a database)."""
    if not inspect(connection).has_table(tables.meta.name):
        return None
    value = connection.execute(
        select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def current(connection: Connection) -> str | None:
    """The database's revision: Alembic's record, ``0001`` for an un-upgraded 0.1 database, None when empty."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and _legacy_version(connection) == 1:
        return V1_REVISION
    return revision


def upgrade(connection: Connection) -> tuple[str | None, str]:
    """Bring the schema to :func:`head` on ``connection``, inside its transaction (the caller holds
    the start-up lock). Returns the revisions before and after."""
    context = MigrationContext.configure(connection)
    before = context.get_current_revision()
    if before is None:
        legacy = _legacy_version(connection)
        if legacy is not None and legacy != 1:
            raise SchemaTooNew(f"the database is at schema version {legacy} of an unknown release; "
                               "upgrade the gateway")
        if legacy == 1:
            context.stamp(scripts(), V1_REVISION)
            before = V1_REVISION
    if before is not None:
        try:
            scripts().get_revision(before)
        except Exception:
            raise SchemaTooNew(
                f"the database is at schema revision {before}, which this gateway (newest: {head()}) does not "
                "know: a newer release upgraded it; upgrade the gateway") from None
    target = head()
    if before != target:
        command.upgrade(alembic_config(connection), target)
        log.info("database schema upgraded from %s to %s", before or "nothing (new database)", target)
    return before, target


def _startup_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # One lock per schema, held until the transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('event-gateway start-up ' || current_schema()))"))
    # SQLite: the writing transaction began with BEGIN IMMEDIATE and holds the write lock.


def _locked_out(error: OperationalError) -> bool:
    return "database is locked" in str(error.orig) or "database is busy" in str(error.orig)


def run_at_startup(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one writing transaction under the start-up lock (see the module's notes).
    On SQLite, a lock SQLite gave up waiting for is tried again (at most :data:`LOCK_ATTEMPTS` times)."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with writing(engine) as connection:
                _startup_lock(connection)
                return work(connection)
        except OperationalError as error:
            if engine.dialect.name != "sqlite" or not _locked_out(error) or attempt == LOCK_ATTEMPTS:
                raise
            log.warning("database is locked at start-up (attempt %d of %d); trying again", attempt, LOCK_ATTEMPTS)
            time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise AssertionError("unreachable")
