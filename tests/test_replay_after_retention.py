"""A webhook replayed after retention removed its event does not act again: the event's
de-duplication key (its source id) is kept, in a table of its own, for GATEWAY_DEDUPE_RETENTION_DAYS
after the event is removed; and flag-platform entries dated further back than
GATEWAY_MAX_ENTRY_AGE_DAYS are refused."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from gateway.host.state import get_state
from gateway.store import tables
from gateway.store.base import now

from .conftest import AUTH, add_integration, fixture_bytes

DAY = 86400.0
ENTRY = json.loads(fixture_bytes("launchdarkly/flag-turned-on-production.json"))


def body(source_id: str = "entry-1", date_ms: float | None = None) -> bytes:
    entry = {**ENTRY, "_id": source_id}
    if date_ms is not None:
        entry["date"] = int(date_ms)
    return json.dumps(entry).encode()


def post(client, data: bytes):
    return client.post("/webhooks/launchdarkly", data=data, content_type="application/json")


def age_everything(app, days: float) -> None:
    """Make every stored record ``days`` old and its delivery delivered, as retention finds it."""
    old = now() - days * DAY
    with get_state(app).db.engine.begin() as connection:
        connection.execute(tables.events.update().values(received_at=old))
        connection.execute(tables.deliveries.update().values(status="delivered", updated_at=old))
        connection.execute(tables.skips.update().values(created_at=old))


def count(app, table) -> int:
    with get_state(app).db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def test_a_replay_after_retention_removed_the_event_is_a_duplicate(app, client):
    add_integration(client, "recorder", config={"token": "recorder-token-0123456789"})
    first = post(client, body())
    assert first.status_code == 202
    age_everything(app, 40)
    result = get_state(app).db.deliveries.prune(now() - 30 * DAY)
    assert result.events == 1 and count(app, tables.events) == 0
    again = post(client, body())
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == {"event_id": first.get_json()["event_id"], "duplicate": True, "queued": 0,
                                "skipped": 0}
    assert count(app, tables.events) == 0 and count(app, tables.deliveries) == 0
    assert post(client, body("entry-2")).status_code == 202  # another entry is new


def test_an_inbound_webhook_replayed_after_retention_is_a_duplicate(app, client):
    from gateway.signatures import hmac_sha256_hex

    inbox = add_integration(client, "inbox", config={"signing_secret": "inbox-secret-0123456789"})
    data = json.dumps({"type": "items", "items": [{"id": "alert-7", "title": "disk full"}]}).encode()
    headers = {"X-Signature": hmac_sha256_hex("inbox-secret-0123456789", data)}
    path = f"/webhooks/integrations/{inbox['id']}"
    first = client.post(path, data=data, content_type="application/json", headers=headers)
    assert first.status_code == 202, first.get_json()
    age_everything(app, 40)
    assert get_state(app).db.deliveries.prune(now() - 30 * DAY).events == 1
    again = client.post(path, data=data, content_type="application/json", headers=headers)
    assert again.status_code == 200 and again.get_json()["events"][0]["duplicate"] is True
    assert count(app, tables.events) == 0


def test_kept_keys_are_forgotten_after_their_own_retention(app, client):
    assert post(client, body()).status_code == 202
    age_everything(app, 40)
    store = get_state(app).db.deliveries
    assert store.prune(now() - 30 * DAY, forget_keys_before=now() - 365 * DAY).events == 1
    assert count(app, tables.removed_event_keys) == 1
    assert post(client, body()).status_code == 200
    with get_state(app).db.engine.begin() as connection:
        connection.execute(tables.removed_event_keys.update().values(removed_at=now() - 400 * DAY))
    store.prune(now() - 30 * DAY, forget_keys_before=now() - 365 * DAY)
    assert count(app, tables.removed_event_keys) == 0
    assert post(client, body()).status_code == 202


def test_the_pool_prunes_with_both_retentions(make_app):
    from gateway.delivery import WorkerPool

    app = make_app({"GATEWAY_RETENTION_DAYS": "30", "GATEWAY_DEDUPE_RETENTION_DAYS": "90"})
    client = app.test_client()
    assert post(client, body()).status_code == 202
    age_everything(app, 40)
    state = get_state(app)
    assert state.settings.dedupe_retention_days == 90
    pool = WorkerPool(state, 1, prefix="pruner", prune_interval=0.2)
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while count(app, tables.events) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pool.stop()
    assert count(app, tables.events) == 0 and count(app, tables.removed_event_keys) == 1


@pytest.mark.parametrize("days_old,status", [(8, 400), (6, 202)])
def test_entries_older_than_the_bound_are_refused(make_app, days_old, status):
    app = make_app({"GATEWAY_MAX_ENTRY_AGE_DAYS": "7"})
    client = app.test_client()
    response = post(client, body(date_ms=(time.time() - days_old * DAY) * 1000))
    assert response.status_code == status, response.get_json()
    if status == 400:
        error = response.get_json()["error"]
        assert "GATEWAY_MAX_ENTRY_AGE_DAYS" in error and "7 days" in error
        assert count(app, tables.events) == 0


def test_without_the_bound_old_entries_are_taken(client):
    assert post(client, body(date_ms=(time.time() - 900 * DAY) * 1000)).status_code == 202
