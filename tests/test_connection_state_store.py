"""The stored webhook state of the flag-platform connection: merges keep the keys they do not name,
also when two processes or nodes merge at once (the connect recording its wiring while a catch-up
records its summary)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from gateway.store import Database
from gateway.store.base import writing
from gateway.store.connections import merge_state
from gateway.store.tables import metadata
from gateway.testing import wait_until

KEY = "launchdarkly"


@pytest.fixture
def db(fresh_database_url):
    database = Database(fresh_database_url())
    metadata.create_all(database.engine)
    database.connections.put(KEY, config={"api_url": "https://flags.example"}, secrets=None,
                             state={"webhook_id": "wh-1"})
    yield database
    database.dispose()


def test_a_merge_keeps_the_keys_it_does_not_name(db):
    assert db.connections.update_state(KEY, {"secret_set_on": "wh-1"}) is True
    assert db.connections.update_state(KEY, {"catchup": {"caught": 2}}) is True
    assert db.connections.get(KEY).state == {"webhook_id": "wh-1", "secret_set_on": "wh-1", "catchup": {"caught": 2}}


def test_a_merge_without_a_connection_writes_nothing(db):
    assert db.connections.update_state("other", {"secret_set_on": "wh-1"}) is False
    assert db.connections.get("other") is None


@pytest.mark.postgresql  # SQLite's writing transactions take the whole database's write lock at BEGIN
def test_a_merge_waiting_on_another_keeps_what_the_other_wrote(db):
    """The connect records ``secret_set_on`` (after which unsigned webhooks are refused) while a
    catch-up in another process records its summary: the later merge waits for the earlier, then
    merges into what it wrote, rather than writing back the state it read before."""
    errors: list[BaseException] = []
    waiter_pid: list[int] = []

    def catch_up_summary() -> None:
        try:
            with db.engine.connect() as connection:
                pid = connection.execute(text("select pg_backend_pid()")).scalar()
                connection.rollback()  # the merge's own transaction, below
                waiter_pid.append(pid)
                with connection.begin():
                    merge_state(connection, KEY, {"catchup": {"caught": 1}})
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    with writing(db.engine) as wiring:
        holder = wiring.execute(text("select pg_backend_pid()")).scalar()
        assert merge_state(wiring, KEY, {"secret_set_on": "wh-1"}) is True
        thread = threading.Thread(target=catch_up_summary)
        thread.start()
        with db.engine.connect() as watcher:
            wait_until(lambda: waiter_pid and holder in watcher.execute(
                text("select pg_blocking_pids(:pid)"), {"pid": waiter_pid[0]}).scalar(),
                timeout=10, message="the second merge waiting for the first")
    thread.join(10)
    assert not thread.is_alive() and errors == []
    assert db.connections.get(KEY).state == {"webhook_id": "wh-1", "secret_set_on": "wh-1",
                                             "catchup": {"caught": 1}}
