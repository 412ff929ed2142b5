"""POST /webhooks/launchdarkly: every bad input answered clearly with nothing stored; valid ones
stored with one decision per integration. Run over the Flask test client and over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from gateway import hmac_sha256_hex
from gateway.store.tables import deliveries, events
from sqlalchemy import func, select

from .conftest import AUTH, LiveServer, add_integration, fixture_bytes

PROD = "launchdarkly/flag-turned-on-production.json"
STAGING = "launchdarkly/flag-rules-updated-staging.json"
SECRET = "ld-signing-secret-for-tests"


class Poster:
    """Posts to the app through the test client or through waitress over HTTP."""

    def __init__(self, app, transport):
        self.app = app
        self.transport = transport
        self.client = app.test_client()
        self.live = LiveServer(app) if transport == "http" else None

    def post(self, path, data, headers=None, content_type="application/json"):
        headers = dict(headers or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        if self.live:
            response = requests.post(self.live.url + path, data=data, headers=headers, timeout=10)
            return response.status_code, response.json()
        response = self.client.post(path, data=data, headers=headers)
        return response.status_code, response.get_json()

    def close(self):
        if self.live:
            self.live.close()


@pytest.fixture(params=["test_client", "http"])
def poster_factory(request, make_app):
    made = []

    def make(config=None):
        poster = Poster(make_app(config), request.param)
        made.append(poster)
        return poster

    yield make
    for poster in made:
        poster.close()


def stored_counts(app):
    from gateway.host.state import get_state

    engine = get_state(app).db.engine
    with engine.connect() as connection:
        return (connection.execute(select(func.count()).select_from(events)).scalar(),
                connection.execute(select(func.count()).select_from(deliveries)).scalar())


BAD_INPUTS = [
    pytest.param(b"{}", "text/plain", 415, "application/json", id="wrong-content-type"),
    pytest.param(b"{}", None, 415, "application/json", id="no-content-type"),
    pytest.param(b'{"_id": "x", "accesses": [', "application/json", 400, "malformed JSON", id="malformed-json"),
    pytest.param(b"\xff\xfe", "application/json", 400, "malformed JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", "application/json", 400, "JSON object", id="not-an-object"),
    pytest.param(b'{"accesses": []}', "application/json", 400, "missing '_id'", id="missing-id"),
    pytest.param(b'{"_id": "", "accesses": []}', "application/json", 400, "missing '_id'", id="empty-id"),
    pytest.param(b'{"_id": "abc"}', "application/json", 400, "missing 'accesses'", id="missing-accesses"),
    pytest.param(b'{"_id": "abc", "accesses": "x"}', "application/json", 400, "'accesses' must be a list", id="accesses-not-list"),
    pytest.param(b'{"_id": "abc", "accesses": [{"action": "updateOn"}]}', "application/json", 400,
                 "accesses[0].resource", id="access-without-resource"),
    pytest.param(b'{"_id": "abc", "accesses": []}', "application/json", 400, "'accesses' is empty", id="no-accesses"),
    pytest.param(b'{"_id": "abc", "accesses": [{"action": "a", "resource": "proj/p"}], "date": "yesterday"}',
                 "application/json", 400, "'date'", id="bad-date"),
]


@pytest.mark.parametrize("body, content_type, status, message", BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_stored(poster_factory, body, content_type, status, message):
    poster = poster_factory()
    code, answer = poster.post("/webhooks/launchdarkly", body, content_type=content_type)
    assert code == status
    assert message in answer["error"]
    assert stored_counts(poster.app) == (0, 0)


def test_oversize_body_is_413_and_nothing_stored(poster_factory):
    poster = poster_factory({"GATEWAY_MAX_BODY_BYTES": "1000"})
    payload = json.loads(fixture_bytes(PROD))
    payload["description"] = "x" * 2000
    code, answer = poster.post("/webhooks/launchdarkly", json.dumps(payload).encode())
    assert code == 413
    assert "limit" in answer["error"] and "1000" in answer["error"]
    assert stored_counts(poster.app) == (0, 0)


def test_oversize_chunked_body_is_413(make_app):
    app = make_app({"GATEWAY_MAX_BODY_BYTES": "1000"})
    live = LiveServer(app)
    try:
        chunks = (b"x" * 500 for _ in range(4))  # no Content-Length: sent chunked
        response = requests.post(live.url + "/webhooks/launchdarkly", data=chunks,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 413
        assert stored_counts(app) == (0, 0)
    finally:
        live.close()


@pytest.mark.parametrize("signature, message", [
    (None, "missing X-LD-Signature"),
    ("0" * 64, "does not match"),
    (hmac_sha256_hex("another-secret", fixture_bytes(PROD)), "does not match"),
    ("not hex at all", "does not match"),
])
def test_bad_signature_is_401_and_nothing_stored(poster_factory, signature, message):
    poster = poster_factory({"GATEWAY_LAUNCHDARKLY_SECRET": SECRET})
    add_integration(poster.client, "recorder", config={"token": "recorder-token-1234"})  # would get a delivery
    headers = {"X-LD-Signature": signature} if signature else {}
    code, answer = poster.post("/webhooks/launchdarkly", fixture_bytes(PROD), headers)
    assert code == 401
    assert message in answer["error"]
    assert stored_counts(poster.app) == (0, 0)
    code, _ = poster.post("/webhooks/launchdarkly", fixture_bytes(PROD), {"X-LD-Signature": hmac_sha256_hex(SECRET, fixture_bytes(PROD))})
    assert code == 202 and stored_counts(poster.app) == (1, 1)  # the same body, signed, is stored


def test_signature_over_the_raw_body_is_accepted(poster_factory):
    poster = poster_factory({"GATEWAY_LAUNCHDARKLY_SECRET": SECRET})
    body = fixture_bytes(PROD)
    code, answer = poster.post("/webhooks/launchdarkly", body, {"X-LD-Signature": hmac_sha256_hex(SECRET, body)})
    assert code == 202, answer
    assert stored_counts(poster.app) == (1, 0)


def test_signature_of_reserialised_json_is_refused(poster_factory):
    poster = poster_factory({"GATEWAY_LAUNCHDARKLY_SECRET": SECRET})
    body = fixture_bytes(PROD)
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    code, _ = poster.post("/webhooks/launchdarkly", body, {"X-LD-Signature": hmac_sha256_hex(SECRET, compact)})
    assert code == 401


def test_unknown_source_is_404(poster_factory):
    poster = poster_factory()
    code, answer = poster.post("/webhooks/nosuchsource", fixture_bytes(PROD))
    assert code == 404
    assert "launchdarkly" in answer["error"]


def test_valid_webhook_records_a_decision_per_integration(poster_factory):
    poster = poster_factory()
    client = poster.client
    recorder = add_integration(client, "recorder", config={"token": "tok-abcdefgh-1234"})
    picky = add_integration(client, "picky", config={"wanted_tag": "backend"})
    prod_only = add_integration(client, "recorder", name="prod only", config={"token": "tok-2-abcdefgh"},
                                policy=[{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}])
    add_integration(client, "recorder", name="off", config={"token": "tok-3-abcdefgh"}, enabled=False)

    code, answer = poster.post("/webhooks/launchdarkly", fixture_bytes(STAGING))
    assert code == 202
    assert answer["queued"] == 1 and answer["skipped"] == 2
    detail = client.get(f"/api/v1/events/{answer['event_id']}", headers=AUTH).get_json()
    by_integration = {d["integration_id"]: d for d in detail["decisions"]}
    assert set(by_integration) == {recorder["id"], picky["id"], prod_only["id"]}  # not the disabled one
    assert by_integration[recorder["id"]]["status"] == "pending"
    assert by_integration[picky["id"]]["status"] == "skipped"
    assert "no tag 'backend'" in by_integration[picky["id"]]["reason"]
    assert by_integration[prod_only["id"]]["status"] == "skipped"
    assert "updateRules" in by_integration[prod_only["id"]]["reason"]
    assert "proj/checkout:env/staging:flag/new-checkout-flow" in by_integration[prod_only["id"]]["reason"]
    assert detail["event"]["flag_key"] == "new-checkout-flow"
    assert detail["raw"]["_id"] == "6561f3b0c1d4e80f3b2a7c52"


def test_repeated_id_is_a_duplicate_with_no_new_deliveries(poster_factory):
    poster = poster_factory()
    add_integration(poster.client, "recorder", config={"token": "tok-abcdefgh-1234"})
    code, first = poster.post("/webhooks/launchdarkly", fixture_bytes(PROD))
    assert code == 202 and first["queued"] == 1
    changed = json.loads(fixture_bytes(PROD))
    changed["comment"] = "the platform retried, with a different body"
    code, second = poster.post("/webhooks/launchdarkly", json.dumps(changed).encode())
    assert code == 200
    assert second == {"event_id": first["event_id"], "duplicate": True, "queued": 0, "skipped": 0}
    assert stored_counts(poster.app) == (1, 1)


def test_a_plugin_that_raises_does_not_disturb_the_others(poster_factory):
    poster = poster_factory()
    boom = add_integration(poster.client, "exploding")
    ok = add_integration(poster.client, "recorder", config={"token": "tok-abcdefgh-1234"})
    code, answer = poster.post("/webhooks/launchdarkly", fixture_bytes(PROD))
    assert code == 202 and answer["queued"] == 1 and answer["skipped"] == 1
    detail = poster.client.get(f"/api/v1/events/{answer['event_id']}", headers=AUTH).get_json()
    by_integration = {d["integration_id"]: d for d in detail["decisions"]}
    assert by_integration[ok["id"]]["status"] == "pending"
    assert by_integration[boom["id"]]["status"] == "skipped"
    assert "raised RuntimeError: boom in check_event" in by_integration[boom["id"]]["reason"]


def test_every_kind_is_accepted(poster_factory):
    poster = poster_factory()
    add_integration(poster.client, "recorder", config={"token": "tok-abcdefgh-1234"})
    code, answer = poster.post("/webhooks/launchdarkly", fixture_bytes("launchdarkly/environment-renamed.json"))
    assert code == 202
    assert answer["queued"] == 0 and answer["skipped"] == 1  # the default policy allows flags only
    detail = poster.client.get(f"/api/v1/events/{answer['event_id']}", headers=AUTH).get_json()
    assert detail["kind"] == "environment"
    assert detail["event"]["environment_key"] == "test"


@pytest.mark.parametrize("debug", [False, True])
def test_the_202_answer_is_the_json_flask_would_make(app, client, debug):
    """Written without the JSON provider, the answer is still jsonify's: body, status and headers
    (and, in debug mode, its indented form)."""
    app.debug = debug
    response = client.post("/webhooks/launchdarkly", data=fixture_bytes(STAGING), content_type="application/json")
    assert response.status_code == 202
    answer = response.get_json()
    with app.test_request_context():
        expected = app.json.response(event_id=answer["event_id"], queued=0, skipped=0)
    assert response.get_data() == expected.get_data()
    assert response.headers["Content-Type"] == expected.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Length"] == str(len(expected.get_data()))
