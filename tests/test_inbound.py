"""POST /webhooks/integrations/<id>: the owning plugin's receive hook, decisions for that integration only."""

from __future__ import annotations

import json

from gateway import hmac_sha256_hex

from .conftest import AUTH, add_integration, fixture_bytes
from .test_intake import stored_counts

SECRET = "inbox-secret-0123456789"


def post(client, integration_id, body, secret=SECRET, content_type="application/json"):
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    headers = {"X-Signature": hmac_sha256_hex(secret, raw)} if secret else {}
    return client.post(f"/webhooks/integrations/{integration_id}", data=raw, headers=headers,
                       content_type=content_type)


def test_events_are_stored_and_decided_for_the_receiving_integration_only(app, client):
    inbox = add_integration(client, "inbox", config={"signing_secret": SECRET})
    other_inbox = add_integration(client, "inbox", name="other", config={"signing_secret": SECRET})
    add_integration(client, "recorder", config={"token": "tok-abcdefgh-1234"})
    response = post(client, inbox["id"], {"type": "items", "items": [
        {"id": 1, "title": "one", "wanted": True}, {"id": 2, "title": "two"}]})
    assert response.status_code == 202
    results = response.get_json()["events"]
    assert [r["queued"] for r in results] == [1, 0]
    for result in results:
        detail = client.get(f"/api/v1/events/{result['event_id']}", headers=AUTH).get_json()
        assert [d["integration_id"] for d in detail["decisions"]] == [inbox["id"]]
        assert detail["integration_id"] == inbox["id"]
    skipped = client.get(f"/api/v1/events/{results[1]['event_id']}", headers=AUTH).get_json()
    assert skipped["decisions"][0]["reason"] == "plugin 'inbox': the item is not wanted"
    # The same item sent to another integration is a different event; to the same one, a duplicate.
    assert post(client, other_inbox["id"], {"type": "items", "items": [{"id": 1, "wanted": True}]}).status_code == 202
    again = post(client, inbox["id"], {"type": "items", "items": [{"id": 1, "wanted": True}]})
    assert again.status_code == 200
    assert again.get_json()["events"][0] == {"event_id": results[0]["event_id"], "duplicate": True,
                                             "queued": 0, "skipped": 0}


def test_a_flag_webhook_is_not_offered_to_an_inbound_only_integration(client):
    add_integration(client, "inbox", config={"signing_secret": SECRET})
    answer = client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                         content_type="application/json").get_json()
    assert answer["queued"] == 0 and answer["skipped"] == 0


def test_bad_signature_is_401_and_nothing_stored(app, client):
    inbox = add_integration(client, "inbox", config={"signing_secret": SECRET})
    for secret in (None, "wrong-secret-000000"):
        response = post(client, inbox["id"], {"type": "items", "items": [{"id": 1}]}, secret=secret)
        assert response.status_code == 401
        assert "X-Signature" in response.get_json()["error"]
    assert stored_counts(app) == (0, 0)


def test_malformed_body_and_wrong_type_are_refused(app, client):
    inbox = add_integration(client, "inbox", config={"signing_secret": SECRET})
    assert post(client, inbox["id"], b"{not json").status_code == 400
    assert post(client, inbox["id"], b"{}", content_type="text/plain").status_code == 415
    assert stored_counts(app) == (0, 0)


def test_unknown_and_disabled_integrations_are_404_and_nothing_stored(app, client):
    disabled = add_integration(client, "inbox", config={"signing_secret": SECRET}, enabled=False)
    recorder = add_integration(client, "recorder", config={"token": "tok-abcdefgh-1234"})
    for integration_id in ("no-such-id", disabled["id"]):
        response = post(client, integration_id, {"type": "items", "items": [{"id": 1}]})
        assert response.status_code == 404
    response = post(client, recorder["id"], {"type": "items", "items": [{"id": 1}]})
    assert response.status_code == 404
    assert "does not receive webhooks" in response.get_json()["error"]
    assert stored_counts(app) == (0, 0)


def test_acknowledged_and_ignored_requests(app, client):
    inbox = add_integration(client, "inbox", config={"signing_secret": SECRET})
    pong = post(client, inbox["id"], {"type": "ping"})
    assert pong.status_code == 200 and pong.get_json()["message"] == "pong"
    assert stored_counts(app) == (0, 0)
    ignored = post(client, inbox["id"], {"type": "other"})
    assert ignored.status_code == 200
    body = ignored.get_json()
    assert body["ignored"] == "type 'other' is not handled"
    detail = client.get(f"/api/v1/events/{body['event_id']}", headers=AUTH).get_json()
    assert detail["kind"] == "ignored"
    assert detail["decisions"][0]["status"] == "skipped"
    assert detail["decisions"][0]["reason"] == "ignored: type 'other' is not handled"
