"""Names merged into a stored event after it arrived (``EventStore.set_fields``): written once per
event and process, merged into the stored body, and shared by the writes of several threads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event as sa_event

from gateway.store import Database
from gateway.testing import make_event


@pytest.fixture
def db(fresh_database_url):
    database = Database(fresh_database_url())
    database.upgrade()
    yield database
    database.dispose()


def stored(db, source_id: str):
    event = make_event(source_id=source_id)
    event_id = db.events.record(event, []).event_id
    return event_id, db.events.get(event_id).body


def body_updates(db) -> list[str]:
    """Collects the UPDATE statements on ``events`` the engine runs from now on."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE EVENTS"):
            seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", before)
    return seen


def test_the_fields_are_merged_into_the_stored_body_and_the_rest_is_kept(db):
    event_id, body = stored(db, "names-1")
    db.events.set_fields(event_id, {"project_name": "Shop", "names_unavailable": None}, body)
    after = db.events.get(event_id).body
    assert after == {**body, "project_name": "Shop", "names_unavailable": None}
    assert after["flag_key"] == body["flag_key"]


def test_the_same_fields_for_the_same_event_are_written_once(db):
    event_id, body = stored(db, "names-2")
    updates = body_updates(db)
    fields = {"project_name": "Shop"}
    db.events.set_fields(event_id, fields, body)
    db.events.set_fields(event_id, dict(fields), body)  # the event's second delivery
    assert len(updates) == 1
    db.events.set_fields(event_id, {"project_name": "Shop (renamed)"}, body)  # new names are written
    assert len(updates) == 2
    assert db.events.get(event_id).body["project_name"] == "Shop (renamed)"


def test_another_process_writes_its_own_fields(db):
    event_id, body = stored(db, "names-3")
    other = Database(db.url)
    try:
        db.events.set_fields(event_id, {"project_name": "Shop"}, body)
        updates = body_updates(other)
        other.events.set_fields(event_id, {"project_name": "Shop"}, body)
        assert len(updates) == 1
    finally:
        other.dispose()
    assert db.events.get(event_id).body["project_name"] == "Shop"


def test_threads_writing_names_of_many_events_at_once_all_land(db):
    events = [stored(db, f"names-many-{n}") for n in range(24)]
    errors = []
    start = threading.Barrier(8)

    def write(part: int) -> None:
        try:
            start.wait(10)
            for event_id, body in events[part::4]:  # two threads per event, as two deliveries
                db.events.set_fields(event_id, {"project_name": f"P {event_id}"}, body)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each thread got
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n % 4,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    for event_id, body in events:
        assert db.events.get(event_id).body == {**body, "project_name": f"P {event_id}"}
