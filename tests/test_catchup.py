"""Catch-up from the flag platform's audit log, in process, over real HTTP against the fake flag
platform: entries whose webhook never came are taken in through the same intake (once, even when
listed twice), a 429 is waited out, the look-back is bounded and says so, the webhook's statements
are respected, a refused token turns the check red, a later webhook is a duplicate."""

from __future__ import annotations

import time

import pytest

from gateway import hmac_sha256_hex
from gateway.kit.fake_flag_platform import FakeFlagPlatform, flag_change_body
from gateway.runtime import catchup
from gateway.host.state import get_state
from gateway.store import meta
from gateway.store.base import writing
from gateway.testing import Reply

from .conftest import AUTH

TOKEN = "api-0123456789-catchup-token"
PUBLIC = "https://gw.example.com"
PATH = "/api/v1/connections/launchdarkly"
HOUR_MS = 3600 * 1000


@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production", "staging": "Staging"})
        yield fake


@pytest.fixture
def app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})


@pytest.fixture
def waits(state):
    waited: list[float] = []
    state.catchup.sleep = waited.append
    return waited


def connect(client, platform, **extra):
    answer = client.put(PATH, json={"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url, **extra},
                        headers=AUTH)
    assert answer.status_code == 200, answer.get_json()


def set_cursor(state, ms: int) -> None:
    with writing(state.db.engine) as connection:
        meta.write(connection, catchup.CURSOR_KEY, str(ms))


def change(platform, flag: str, *, environment: str = "production", ago_ms: int = 10_000) -> dict:
    """A flag change in the audit log, made ``ago_ms`` ago, whose webhook never came."""
    body = flag_change_body("checkout", flag, flag.title(), environment, True, "", {environment: {"on": True}})
    body["date"] = int(time.time() * 1000) - ago_ms
    return platform.record_change(body)


def stored(state) -> list:
    return [row for row in state.db.events.list(limit=100) if row.source == "launchdarkly"]


def test_missed_changes_are_taken_in_once_and_a_late_webhook_is_a_duplicate(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 60_000)
    platform.audit_page_overlap = True  # the next page starts one past the last entry: listed twice
    entries = [change(platform, f"flag-{n}", ago_ms=30_000 - n) for n in range(25)]

    answer = client.post(PATH + "/catch-up", headers=AUTH)

    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["ran"] is True and result["error"] is None
    assert result["listed"] == 25 and result["caught"] == 25
    listed = platform.calls("GET", "/api/v2/auditlog?")
    assert len(listed) == 2 and "before=" in listed[1].path  # the second page by its next link
    rows = stored(state)
    assert sorted(r.source_id for r in rows) == sorted(e["_id"] for e in entries)
    assert {r.body["received_via"] for r in rows} == {"catch-up"}
    first = entries[0]
    row = next(r for r in rows if r.source_id == first["_id"])
    assert row.occurred_at == pytest.approx(first["date"] / 1000)  # when it happened, not when caught
    shown = client.get(f"/api/v1/events/{row.id}", headers=AUTH).get_json()
    assert shown["received_via"] == "catch-up" and shown["event"]["received_via"] == "catch-up"

    [webhook] = platform.webhooks.values()
    body = _entry_bytes(first)
    late = client.post("/webhooks/launchdarkly", data=body, content_type="application/json",
                       headers={"X-LD-Signature": hmac_sha256_hex(webhook["secret"], body)})
    assert late.status_code == 200 and late.get_json() == {"event_id": row.id, "duplicate": True,
                                                           "queued": 0, "skipped": 0}

    again = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert again["caught"] == 0 and len(stored(state)) == 25
    metrics = client.get("/metrics").text
    assert "gateway_catchup_events_total 25.0" in metrics and "gateway_catchup_lag_seconds " in metrics
    assert waits == []


def _entry_bytes(entry: dict) -> bytes:
    import json

    return json.dumps(entry).encode()


def test_a_429_from_the_audit_log_is_waited_out(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 60_000)
    change(platform, "checkout-redesign")
    platform.queue(Reply(429, {"code": "rate_limited", "message": "slow down"}, headers={"Retry-After": "3"}))

    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()

    assert waits == [3.0]
    assert result["caught"] == 1 and result["error"] is None


def test_a_rate_limit_reset_header_is_honoured_and_the_wait_bounded(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 60_000)
    change(platform, "checkout-redesign")
    reset = int(time.time() * 1000) + 3_600_000  # an hour away: waited at most RATE_LIMIT_MAX_WAIT
    platform.queue(Reply(429, {"message": "slow down"}, headers={"X-Ratelimit-Reset": str(reset)}),
                   Reply(429, {"message": "slow down"}, headers={"X-Ratelimit-Reset": str(int(time.time() * 1000) + 2000)}))

    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()

    assert waits[0] == catchup.RATE_LIMIT_MAX_WAIT and 0 < waits[1] <= 2.0
    assert result["caught"] == 1


def test_a_look_back_longer_than_the_maximum_is_reported(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 30 * HOUR_MS)
    too_old = change(platform, "old-flag", ago_ms=25 * HOUR_MS)
    recent = change(platform, "new-flag", ago_ms=HOUR_MS)

    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()

    assert "GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS (24 h)" in result["gap"]
    assert "are not caught up" in result["gap"]
    assert [r.source_id for r in stored(state)] == [recent["_id"]]
    assert too_old["_id"] not in {r.source_id for r in stored(state)}
    status = client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()
    [check] = [c for c in status["checks"] if c["name"] == "catch-up"]
    assert check["state"] == "warning" and "GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS" in check["message"]
    shown = client.get(PATH, headers=AUTH).get_json()["catch_up"]
    assert shown["caught"] == 1 and shown["gap"] and shown["window_to"]


def test_only_what_the_webhooks_statements_send_is_caught_up(client, platform, state, waits):
    connect(client, platform, webhook_statements=[
        {"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}])
    set_cursor(state, int(time.time() * 1000) - 60_000)
    production = change(platform, "checkout-redesign")
    change(platform, "checkout-redesign", environment="staging")

    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()

    assert result["caught"] == 1 and result["listed"] == 2
    assert [r.source_id for r in stored(state)] == [production["_id"]]


def test_caught_changes_turn_the_check_amber_and_a_refused_token_red(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 60_000)
    change(platform, "checkout-redesign")
    client.post(PATH + "/catch-up", headers=AUTH)
    status = client.get(PATH + "/status", headers=AUTH).get_json()
    [check] = [c for c in status["checks"] if c["name"] == "catch-up"]
    assert check["state"] == "warning" and "webhooks are failing" in check["message"]

    platform.token = "another-token"
    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert result["error_status"] == 401
    status = client.get(PATH + "/status", headers=AUTH).get_json()
    [check] = [c for c in status["checks"] if c["name"] == "catch-up"]
    assert check["state"] == "error" and "refused the token" in check["message"]
    assert TOKEN not in str(status)


def test_without_a_connection_catch_up_is_off(client, state):
    health = client.get("/healthz").get_json()
    assert health["catch_up"]["on"] is False and "catch-up from the audit log is off" in health["catch_up"]["message"]
    assert client.post(PATH + "/catch-up", headers=AUTH).status_code == 404
    assert state.catchup.run("test")["ran"] is False


def test_one_process_reconciles_at_a_time(client, platform, state, waits):
    connect(client, platform)
    other = catchup.CatchUpLease(state.db.engine)
    assert other.take() is None
    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert result["ran"] is False and "running elsewhere" in result["message"]
    other.give_back()
    assert client.post(PATH + "/catch-up", headers=AUTH).get_json()["ran"] is True


def test_after_a_disconnect_a_new_connection_catches_up_from_when_it_is_made(client, platform, state, waits):
    connect(client, platform)
    set_cursor(state, int(time.time() * 1000) - 30 * HOUR_MS)
    assert client.delete(PATH, headers=AUTH).status_code == 200
    assert catchup.read_cursor(state) is None
    change(platform, "made-while-disconnected", ago_ms=HOUR_MS)
    connect(client, platform)
    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert result["gap"] is None and result["listed"] == 0 and stored(state) == []


def test_a_documented_page_and_entry_become_the_event_a_webhook_would_make(client, platform, state, waits):
    import json
    from pathlib import Path

    from gateway.host.builtin.launchdarkly import normalize_audit_entry

    folder = Path(__file__).parent / "data" / "launchdarkly-auditlog"
    page, entry = (json.loads((folder / name).read_text()) for name in ("page.json", "entry.json"))
    when = int(time.time() * 1000) - 10_000
    page["items"][0]["date"] = entry["date"] = when
    connect(client, platform)
    set_cursor(state, when - 60_000)
    platform.queue(Reply(200, page), Reply(200, entry))

    result = client.post(PATH + "/catch-up", headers=AUTH).get_json()

    assert result["caught"] == 1
    [row] = stored(state)
    as_webhook = normalize_audit_entry(entry).to_dict(include_raw=False)
    caught = {k: v for k, v in row.body.items() if k not in ("id", "received_via")}
    assert caught == {k: v for k, v in as_webhook.items() if k not in ("id", "received_via")}
    assert row.body["received_via"] == "catch-up" and state.db.events.get(row.id).raw == entry
    assert row.body["custom_properties"]["dynatrace"]["values"] == ["app:checkout"]
    [listed] = [r for r in platform.received() if r.path.startswith("/api/v2/auditlog?")]
    assert "limit=20" in listed.path and f"after={when - 60_000}" in listed.path and "before=" in listed.path


def test_a_run_that_stops_half_way_is_done_again_without_duplicates(client, platform, state, waits, monkeypatch):
    from gateway.flagplatform.client import FlagApiError, FlagPlatformClient

    connect(client, platform)
    start = int(time.time() * 1000) - 60_000
    set_cursor(state, start)
    entries = [change(platform, f"flag-{n}", ago_ms=20_000 - n) for n in range(3)]
    real = FlagPlatformClient.get_audit_log_entry
    calls = []

    def fails_on_the_second(self, entry_id):
        calls.append(entry_id)
        if len(calls) == 2:
            raise FlagApiError("the flag platform answered 503 to read an audit-log entry", 503, retryable=True)
        return real(self, entry_id)

    monkeypatch.setattr(FlagPlatformClient, "get_audit_log_entry", fails_on_the_second)
    first = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert first["error_status"] == 503 and first["caught"] == 1
    assert catchup.read_cursor(state) == start  # not moved: the window is done again

    monkeypatch.setattr(FlagPlatformClient, "get_audit_log_entry", real)
    second = client.post(PATH + "/catch-up", headers=AUTH).get_json()
    assert second["error"] is None and second["caught"] == 2
    assert sorted(r.source_id for r in stored(state)) == sorted(e["_id"] for e in entries)
    assert catchup.read_cursor(state) > start


def test_a_run_that_started_before_the_last_one_was_recorded_keeps_its_catch(client, platform, state, waits,
                                                                             monkeypatch):
    """The summary a run leaves builds on the one stored, not on the connection the run started with:
    a follow-up run (or another node's) that read the connection before a run that caught changes
    was recorded must not wipe the "last caught" count."""
    connect(client, platform)
    stale = state.connection.current()  # read before any run was recorded
    set_cursor(state, int(time.time() * 1000) - 60_000)
    change(platform, "flag-caught", ago_ms=30_000)
    assert client.post(PATH + "/catch-up", headers=AUTH).get_json()["caught"] == 1
    monkeypatch.setattr(state.connection, "current", lambda: stale)
    assert state.catchup.run("test")["caught"] == 0
    monkeypatch.undo()
    state.connection.forget_cached()
    status = client.get(PATH, headers=AUTH).get_json()["catch_up"]
    assert status["last_caught"] == 1 and status["caught"] == 0
