"""An audit log entry is written in the transaction of the change it records: when the entry cannot
be written the change is rolled back, and when the change cannot be written there is no entry. For
each kind of change: integrations (create, edit, enable/disable, delete), delivery actions (retry,
replay, test), the flag-platform connection (connect, rotate the secret, disconnect) and the
catch-up. A write is made to fail as the database would refuse it, by its statement (both SQLite
and PostgreSQL: ``tests/run_on_postgres.py``); the API answers 500 then."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event as sa_event

from gateway.host.state import get_state
from gateway.kit.fake_flag_platform import FakeFlagPlatform, flag_change_body
from gateway.runtime import catchup
from gateway.store import meta
from gateway.store.base import writing

from .conftest import AUTH
from .delivery_support import delivery_plugins, queue_event, Scripted

TOKEN = "api-0123456789-atomic-audit-token"
PUBLIC = "https://gw.example.com"
PATH = "/api/v1/connections/launchdarkly"
AUDIT_INSERT = r"INSERT INTO audit_log\b"


class Refused(Exception):
    """The database refused a statement (made up by :func:`refusing`)."""


@contextmanager
def refusing(state, pattern: str):
    """Every statement that begins with ``pattern`` (a regular expression) fails while inside."""
    matcher = re.compile(r"\s*" + pattern, re.IGNORECASE)
    refused: list[str] = []

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if matcher.match(statement):
            refused.append(statement)
            raise Refused(statement.split("(")[0])

    sa_event.listen(state.db.engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        sa_event.remove(state.db.engine, "before_cursor_execute", refuse)
    assert refused, f"no statement matched {pattern!r}: the test made nothing fail"


def entries(state, action: str | None = None) -> list:
    return [row for row in state.db.audit_log.list(limit=1000) if action is None or row.action == action]


@pytest.fixture
def dapp(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=delivery_plugins(Scripted()))


@pytest.fixture
def dstate(dapp):
    return get_state(dapp)


@pytest.fixture
def dclient(dapp):
    return dapp.test_client()


def create(client, name="one") -> str:
    answer = client.post("/api/v1/integrations", json={"plugin": "scripted", "name": name, "config": {}},
                         headers=AUTH)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


# integrations ----------------------------------------------------------------------------------

def test_an_integration_is_not_created_when_its_entry_cannot_be_written(dclient, dstate):
    with refusing(dstate, AUDIT_INSERT):
        assert dclient.post("/api/v1/integrations", json={"plugin": "scripted", "name": "lost", "config": {}}, headers=AUTH).status_code == 500
    assert dstate.db.integrations.list() == [] and entries(dstate) == []
    made = create(dclient)
    [entry] = entries(dstate, "integration.create")
    assert (entry.object, entry.actor, entry.origin) == (f"integration:{made}", "admin", "api")
    assert entry.details == {"integration": made, "plugin": "scripted", "enabled": True}


def test_an_integration_is_not_changed_when_its_entry_cannot_be_written(dclient, dstate):
    made = create(dclient)
    for body in ({"enabled": False}, {"name": "renamed", "policy": []}):
        with refusing(dstate, AUDIT_INSERT):
            assert dclient.patch(f"/api/v1/integrations/{made}", json=body, headers=AUTH).status_code == 500
        row = dstate.db.integrations.get(made)
        assert (row.enabled, row.name, row.policy != []) == (True, "one", True)
    assert entries(dstate, "integration.update") == []
    assert dclient.patch(f"/api/v1/integrations/{made}", json={"enabled": False}, headers=AUTH).status_code == 200
    [entry] = entries(dstate, "integration.update")
    assert entry.details == {"integration": made, "changed": "enabled"}
    assert dstate.db.integrations.get(made).enabled is False


def test_an_integration_change_that_fails_leaves_no_entry(dclient, dstate):
    made = create(dclient)
    with refusing(dstate, r"UPDATE integrations\b"):
        assert dclient.patch(f"/api/v1/integrations/{made}", json={"enabled": False}, headers=AUTH).status_code == 500
    with refusing(dstate, r"DELETE FROM integrations\b"):
        assert dclient.delete(f"/api/v1/integrations/{made}", headers=AUTH).status_code == 500
    assert dstate.db.integrations.get(made).enabled is True
    assert [e.action for e in entries(dstate)] == ["integration.create"]


def test_an_integration_is_not_removed_when_its_entry_cannot_be_written(dclient, dstate):
    made = create(dclient)
    _, delivery = queue_event(dstate, made, "e-1", status="dead")
    with refusing(dstate, AUDIT_INSERT):
        assert dclient.delete(f"/api/v1/integrations/{made}", headers=AUTH).status_code == 500
    assert dstate.db.integrations.get(made) is not None and dstate.db.deliveries.get(delivery) is not None
    assert entries(dstate, "integration.delete") == []
    assert dclient.delete(f"/api/v1/integrations/{made}", headers=AUTH).status_code == 204
    assert dstate.db.integrations.get(made) is None
    assert [e.object for e in entries(dstate, "integration.delete")] == [f"integration:{made}"]


# delivery actions ------------------------------------------------------------------------------

def test_a_retry_is_not_made_when_its_entry_cannot_be_written(dclient, dstate):
    made = create(dclient)
    _, delivery = queue_event(dstate, made, "e-1", status="dead")
    with refusing(dstate, AUDIT_INSERT):
        assert dclient.post(f"/api/v1/deliveries/{delivery}/retry", headers=AUTH).status_code == 500
    assert dstate.db.deliveries.get(delivery).status == "dead"
    with refusing(dstate, r"UPDATE deliveries\b"):
        assert dclient.post(f"/api/v1/deliveries/{delivery}/retry", headers=AUTH).status_code == 500
    assert dstate.db.deliveries.get(delivery).status == "dead" and entries(dstate, "delivery.retry") == []
    assert dclient.post(f"/api/v1/deliveries/{delivery}/retry", headers=AUTH).status_code == 200
    [entry] = entries(dstate, "delivery.retry")
    assert entry.details == {"delivery": delivery, "integration": made}
    assert dstate.db.deliveries.get(delivery).status == "pending"


def test_a_replay_is_not_made_when_its_entry_cannot_be_written(dclient, dstate):
    made = create(dclient)
    event_id, delivery = queue_event(dstate, made, "e-1", status="dead")
    with refusing(dstate, AUDIT_INSERT):
        assert dclient.post(f"/api/v1/integrations/{made}/replay", json={"event_ids": [event_id]}, headers=AUTH).status_code == 500
    assert dstate.db.deliveries.get(delivery).status == "dead"
    history = dclient.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["history"]
    assert history == [] and entries(dstate, "integration.replay") == []
    answer = dclient.post(f"/api/v1/integrations/{made}/replay", json={"event_ids": [event_id]}, headers=AUTH)
    assert answer.status_code == 200 and answer.get_json()["requeued"] == 1
    [entry] = entries(dstate, "integration.replay")
    assert entry.details == {"integration": made, "selection": "1 event(s)", "requeued": 1, "skipped": 0}


def test_a_test_event_is_not_stored_when_its_entry_cannot_be_written(dclient, dstate):
    answer = dclient.post("/api/v1/integrations", json={
        "plugin": "courier", "name": "c", "config": {"url": "http://127.0.0.1:9/never-called"}}, headers=AUTH)
    made = answer.get_json()["id"]
    with refusing(dstate, AUDIT_INSERT):
        assert dclient.post(f"/api/v1/integrations/{made}/test", headers=AUTH).status_code == 500
    assert dstate.db.events.list(limit=10) == [] and entries(dstate, "integration.test") == []


# the flag-platform connection ------------------------------------------------------------------

@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production"})
        yield fake


@pytest.fixture
def app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})


def connect(client, platform, **extra):
    return client.put(PATH, json={"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url, **extra},
                      headers=AUTH)


def test_a_connection_is_not_kept_when_its_entry_cannot_be_written(client, state, platform):
    with refusing(state, AUDIT_INSERT):
        assert connect(client, platform, wire=False).status_code == 500
    assert state.connection.public() is None
    with refusing(state, AUDIT_INSERT):
        assert connect(client, platform).status_code == 500  # the entry goes with the record of the wiring
    assert state.connection.public() is None and entries(state) == []
    assert connect(client, platform).status_code == 200
    [entry] = entries(state, "connection.connect")
    [webhook] = platform.webhooks.values()
    assert entry.details == {"api_url": platform.url, "public_url": PUBLIC, "webhook": "updated",
                             "webhook_id": webhook["_id"]}


def test_a_connection_whose_wiring_cannot_be_recorded_leaves_no_entry(client, state, platform):
    with refusing(state, r"UPDATE connections\b"):
        assert connect(client, platform).status_code == 500
    assert state.connection.public() is None and entries(state) == []


def test_a_rotation_is_not_made_when_its_entry_cannot_be_written(client, state, platform):
    assert connect(client, platform).status_code == 200
    [webhook] = platform.webhooks.values()
    secret = webhook["secret"]
    with refusing(state, AUDIT_INSERT):
        assert client.post(PATH + "/rotate-secret", headers=AUTH).status_code == 500
    state.connection.forget_cached()
    assert state.connection.current().webhook_secret == secret and state.connection.current().previous_secret is None
    assert webhook["secret"] == secret  # the platform was not told a new one
    assert entries(state, "connection.rotate_secret") == []
    assert client.post(PATH + "/rotate-secret", headers=AUTH).status_code == 200
    [entry] = entries(state, "connection.rotate_secret")
    assert (entry.actor, entry.origin, entry.details) == ("admin", "api", {"result": "rotated"})
    state.connection.forget_cached()
    assert state.connection.current().previous_secret == secret and webhook["secret"] != secret


def test_a_disconnect_is_not_made_when_its_entry_cannot_be_written(client, state, platform):
    assert connect(client, platform).status_code == 200
    with refusing(state, AUDIT_INSERT):
        assert client.delete(PATH + "?keep_webhook=1", headers=AUTH).status_code == 500
    assert state.connection.public() is not None and entries(state, "connection.disconnect") == []
    with refusing(state, r"DELETE FROM connections\b"):
        assert client.delete(PATH + "?keep_webhook=1", headers=AUTH).status_code == 500
    assert state.connection.public() is not None and entries(state, "connection.disconnect") == []
    assert client.delete(PATH + "?keep_webhook=1", headers=AUTH).status_code == 200
    assert state.connection.public() is None
    [entry] = entries(state, "connection.disconnect")
    assert entry.details["webhook"] == "kept"


# the catch-up ----------------------------------------------------------------------------------

def _change(platform, flag: str) -> dict:
    body = flag_change_body("checkout", flag, flag.title(), "production", True, "", {"production": {"on": True}})
    body["date"] = int(time.time() * 1000) - 10_000
    return platform.record_change(body)


def _cursor(state) -> int | None:
    return catchup.read_cursor(state)


def test_a_catch_up_is_an_entry_written_with_its_summary(client, state, platform):
    assert connect(client, platform).status_code == 200
    start = int(time.time() * 1000) - 60_000
    with writing(state.db.engine) as connection:
        meta.write(connection, catchup.CURSOR_KEY, str(start))
    _change(platform, "checkout-redesign")

    with refusing(state, AUDIT_INSERT), pytest.raises(Refused):
        state.catchup.run("interval")
    assert _cursor(state) == start and state.connection.public()["catch_up"] is None
    with refusing(state, r"UPDATE connections\b"), pytest.raises(Refused):
        state.catchup.run("interval")
    assert _cursor(state) == start and entries(state, "connection.catch_up") == []

    _change(platform, "checkout-banner")
    result = state.catchup.run("interval")
    assert result["ran"] and result["error"] is None
    [entry] = entries(state, "connection.catch_up")
    assert (entry.actor, entry.role, entry.origin, entry.object) == ("gateway", None, "automatic", "connection")
    # the first refused run took its change in (the intake is its own); the cursor stayed, so it is seen again
    assert {k: entry.details[k] for k in ("trigger", "result", "listed", "caught", "already_stored")} == {
        "trigger": "interval", "result": "done", "listed": 2, "caught": 1, "already_stored": 1}
    assert _cursor(state) > start
    assert state.connection.public()["catch_up"]["listed"] == 2
    assert TOKEN not in entry.summary and TOKEN not in str(entry.details)


def test_a_catch_up_asked_for_records_who_asked(client, state, platform):
    assert connect(client, platform).status_code == 200
    with writing(state.db.engine) as connection:
        meta.write(connection, catchup.CURSOR_KEY, str(int(time.time() * 1000) - 60_000))
    _change(platform, "checkout-redesign")
    answer = client.post(PATH + "/catch-up", headers=AUTH)
    assert answer.status_code == 200 and answer.get_json()["caught"] == 1
    [entry] = entries(state, "connection.catch_up")
    assert (entry.actor, entry.role, entry.origin) == ("admin", "admin", "api")
    assert entry.details["caught"] == 1 and entry.details["trigger"] == "api"


def test_a_scheduled_catch_up_that_finds_nothing_new_is_no_entry(client, state, platform):
    """It changed nothing: its summary is kept with the connection, and the audit log stays for what
    changed (one entry every few minutes would bury those)."""
    assert connect(client, platform).status_code == 200
    with writing(state.db.engine) as connection:
        meta.write(connection, catchup.CURSOR_KEY, str(int(time.time() * 1000) - 60_000))
    _change(platform, "checkout-redesign")
    assert state.catchup.run("interval")["caught"] == 1
    assert len(entries(state, "connection.catch_up")) == 1
    again = state.catchup.run("interval")
    assert again["ran"] and again["caught"] == 0 and again["error"] is None
    assert len(entries(state, "connection.catch_up")) == 1
    assert state.connection.public()["catch_up"]["finished_at"] == again["finished_at"]
    assert client.post(PATH + "/catch-up", headers=AUTH).get_json()["caught"] == 0
    assert [e.details["trigger"] for e in entries(state, "connection.catch_up")] == ["api", "interval"]
