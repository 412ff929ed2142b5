"""Group commit and background checkpoints of the SQLite store."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, func, insert, select

from gateway.store import Database
from gateway.store.base import GroupCommit
from gateway.testing import wait_until

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String(20), unique=True))


@pytest.fixture
def db(fresh_database_url):
    """A fresh database of this run's kind (SQLite or PostgreSQL) with the ``items`` table."""
    database = Database(fresh_database_url())
    metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'writes.db'}")
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def count(db):
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(items)).scalar()


def test_a_failing_unit_is_rolled_back_alone(db):
    committer = GroupCommit(db.engine)
    gate = threading.Event()
    results, errors = {}, {}

    def first(connection):
        gate.wait(5)  # hold the commit so that the others queue behind it and share the next one
        connection.execute(insert(items).values(name="first"))
        return "first"

    def unit(name):
        def work(connection):
            connection.execute(insert(items).values(name=name))
            return name
        return work

    def submit(key, work):
        try:
            results[key] = committer.run(work)
        except Exception as error:  # noqa: BLE001 - the test looks at what each caller got
            errors[key] = error

    threads = [threading.Thread(target=submit, args=("first", first))]
    threads[0].start()
    for key, name in (("a", "a"), ("dup", "a"), ("b", "b")):
        thread = threading.Thread(target=submit, args=(key, unit(name)))
        threads.append(thread)
        thread.start()
    wait_until(lambda: len(committer._queue) == 3, 5, message="three units queued behind the first")
    gate.set()
    for thread in threads:
        thread.join(10)
    assert results == {"first": "first", "a": "a", "b": "b"} or results == {"first": "first", "dup": "a", "b": "b"}
    assert len(errors) == 1 and isinstance(next(iter(errors.values())), exc.IntegrityError)
    assert count(db) == 3


def test_a_unit_alone_that_fails_leaves_nothing(db):
    committer = GroupCommit(db.engine)

    def work(connection):
        connection.execute(insert(items).values(name="x"))
        raise ValueError("after the insert")

    with pytest.raises(ValueError, match="after the insert"):
        committer.run(work)
    assert count(db) == 0
    assert committer.run(lambda connection: connection.execute(insert(items).values(name="y")) and "y") == "y"
    assert count(db) == 1


def test_many_threads_all_commit(db):
    committer = GroupCommit(db.engine)
    threads = [threading.Thread(target=committer.run,
                                args=(lambda connection, n=n: connection.execute(insert(items).values(name=f"n{n}")),))
               for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert count(db) == 40


def test_the_log_is_checkpointed_in_the_background_after_writes_only(sqlite_db):
    db = sqlite_db  # write-ahead log checkpoints are SQLite's
    checkpointer = db.checkpointer
    checkpointer.interval = 0.02
    calls = []
    real = checkpointer.checkpoint
    checkpointer.checkpoint = lambda: calls.append(1) or real()
    for _ in range(5):  # reading transactions do not count as writes
        with db.engine.connect() as connection:
            with connection.begin():
                connection.execute(select(func.count()).select_from(items))
    assert checkpointer._thread is None and calls == []
    GroupCommit(db.engine).run(lambda connection: connection.execute(insert(items).values(name="w")))
    wait_until(lambda: calls, 5, message="a background checkpoint")
    settled = len(calls)
    threading.Event().wait(0.2)  # ten intervals with nothing new written
    assert len(calls) == settled


def test_a_transaction_the_database_ended_fails_the_whole_batch(db):
    """After a full disk or an I/O error SQLite rolls back the whole transaction, not just the failed
    unit's savepoint: the units before it must not be answered as stored, nor those after it run."""
    import sqlite3

    from gateway.store.unavailable import unavailable
    from gateway.store.base import _Job

    def fine(name):
        def work(connection):
            connection.execute(insert(items).values(name=name))
            return name
        return work

    def disk_io_error(connection):
        connection.execute(insert(items).values(name="failing"))
        connection.exec_driver_sql("ROLLBACK")  # what SQLite does by itself on SQLITE_IOERR or SQLITE_FULL
        raise exc.OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    batch = [_Job(fine("before"), "1"), _Job(disk_io_error, "2"), _Job(fine("after"), "3")]
    GroupCommit(db.engine)._lead(batch)
    assert all(job.done and job.error is not None and job.value is None for job in batch)
    assert batch[2].error is batch[0].error and batch[1].error is batch[0].error
    assert unavailable(batch[0].error).reason == "io_error"  # a 503, as the disk error it follows from
    assert count(db) == 0


def test_a_connection_lost_mid_batch_fails_the_whole_batch_with_its_error(db):
    """The units after a lost connection fail with the loss itself (an outage, answered 503), not
    with SQLAlchemy's complaint that the connection is invalid."""
    import sqlite3

    from gateway.store.unavailable import unavailable
    from gateway.store.base import _Job

    def lost(connection):
        connection.invalidate()
        raise exc.OperationalError("INSERT", {}, sqlite3.OperationalError("unable to open database file"))

    batch = [_Job(lambda c: c.execute(insert(items).values(name="before")), "1"), _Job(lost, "2"),
             _Job(lambda c: c.execute(insert(items).values(name="after")), "3")]
    GroupCommit(db.engine)._lead(batch)
    assert [unavailable(job.error).reason for job in batch] == ["unreachable"] * 3
    assert count(db) == 0


@pytest.mark.parametrize("writing_transaction", [True, False])
def test_a_begin_that_fails_is_sqlalchemys_error_seen_by_the_engine(sqlite_db, writing_transaction):
    """SQLite's BEGIN is sent on the driver's cursor: a failure there is still wrapped by
    SQLAlchemy, reported to the engine's ``handle_error`` listeners (the outage watch) and
    invalidates a connection that is gone."""
    from sqlalchemy import event

    seen = []
    event.listen(sqlite_db.engine, "handle_error", lambda context: seen.append(context.original_exception))
    with sqlite_db.engine.connect().execution_options(writing=writing_transaction) as connection:
        connection.connection.dbapi_connection.close()  # the driver's connection is gone
        with pytest.raises(exc.DBAPIError) as raised:
            connection.begin()
        assert "closed database" in str(raised.value.orig)
        assert seen == [raised.value.orig]
        assert connection.invalidated
    assert count(sqlite_db) == 0  # and the engine goes on with a new connection


def test_the_batch_writer_keeps_one_connection_on_sqlite_and_commits_each_batch(sqlite_db):
    from gateway.store.base import BatchCommit

    def write_batch(connection, names):
        connection.execute(insert(items), [{"name": name} for name in names])
        return names

    batches = BatchCommit(sqlite_db.engine, write_batch)
    assert batches.run("a") == "a"
    kept = batches.writer._connection
    assert count(sqlite_db) == 1  # committed before run returned: another connection sees it
    batches.run("b")
    assert batches.writer._connection is kept and not kept.in_transaction()
    with pytest.raises(exc.IntegrityError):
        batches.run("a")  # a failed transaction: rolled back, and its connection given back
    assert batches.writer._connection is None and kept.closed
    batches.run("c")
    assert count(sqlite_db) == 3 and batches.writer._connection is not kept
    batches.writer.release()
    assert batches.writer._connection is None and sqlite_db.engine.pool.checkedout() == 0
