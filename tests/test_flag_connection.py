"""The flag-platform connection over real HTTP against a fake flag-platform API on loopback: connect
(create, find, update the webhook), signed webhooks with the stored secret, rotation, disconnect,
the connection's checks, and secrets kept out of every answer."""

from __future__ import annotations

import json
import logging

import pytest

from gateway import hmac_sha256_hex
from gateway.fake_flag_platform import FakeFlagPlatform
from gateway.state import get_state

from .conftest import AUTH, fixture_bytes

TOKEN = "api-0123456789-connection-token"
PUBLIC = "https://gw.example.com"
HOOK_URL = PUBLIC + "/webhooks/launchdarkly"
PATH = "/api/v1/connections/launchdarkly"


@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production", "test": "Testing"})
        yield fake


@pytest.fixture
def app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})


def connect(client, platform, **extra):
    body = {"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url, **extra}
    return client.put(PATH, json=body, headers=AUTH)


def signed(client, body: bytes, secret: str):
    return client.post("/webhooks/launchdarkly", data=body, content_type="application/json",
                       headers={"X-LD-Signature": hmac_sha256_hex(secret, body)})


def the_webhook(platform) -> dict:
    [webhook] = platform.webhooks.values()
    return webhook


def test_connect_creates_a_signed_webhook_and_keeps_the_secrets_to_itself(client, platform, app):
    answer = connect(client, platform, webhook_statements=[
        {"effect": "allow", "resources": ["proj/checkout:env/production"], "actions": ["*"]}])
    assert answer.status_code == 200, answer.get_json()
    [created] = platform.calls("POST", "/api/v2/webhooks")
    assert created.header("Authorization") == TOKEN
    sent = created.json()
    assert sent["url"] == HOOK_URL and sent["sign"] is True and sent["on"] is True
    assert sent["name"] == "Flag Event Gateway" and sent["tags"] == ["event-gateway"]
    assert sent["statements"] == [{"effect": "allow", "resources": ["proj/checkout:env/production"], "actions": ["*"]}]
    secret = sent["secret"]
    assert len(secret) >= 32
    body = answer.get_json()
    assert body["webhook"]["action"] == "created" and body["webhook"]["id"] == the_webhook(platform)["_id"]
    shown = json.dumps(body) + json.dumps(client.get(PATH, headers=AUTH).get_json())
    assert TOKEN not in shown and secret not in shown
    assert client.get(PATH, headers=AUTH).get_json()["api_token"] == "****oken"
    row = get_state(app).db.connections.get("launchdarkly")
    assert TOKEN not in json.dumps(row.config) + (row.secrets or "") and secret not in (row.secrets or "")


def test_connecting_again_changes_nothing(client, platform):
    connect(client, platform)
    again = connect(client, platform)
    assert again.status_code == 200 and again.get_json()["webhook"]["action"] == "unchanged"
    assert len(platform.calls("POST", "/api/v2/webhooks")) == 1 and platform.calls("PATCH") == []


def test_connecting_again_without_the_token_keeps_it(client, platform):
    connect(client, platform)
    again = client.put(PATH, json={"public_url": "https://other.example.com"}, headers=AUTH)
    assert again.status_code == 200, again.get_json()
    assert the_webhook(platform)["url"] == "https://other.example.com/webhooks/launchdarkly"


def test_an_existing_webhook_with_the_url_is_found_and_updated(client, platform):
    existing = platform.add_webhook(url=HOOK_URL, on=False, name="made by hand", secret=None)
    answer = connect(client, platform)
    assert answer.get_json()["webhook"]["action"] == "updated"
    assert platform.calls("POST", "/api/v2/webhooks") == []
    [patch] = platform.calls("PATCH")
    assert patch.path == f"/api/v2/webhooks/{existing['_id']}"
    assert {op["path"] for op in patch.json()} >= {"/on", "/name", "/tags", "/secret"}
    webhook = the_webhook(platform)
    assert webhook["on"] is True and webhook["secret"] and webhook["name"] == "Flag Event Gateway"


def test_a_changed_public_url_updates_the_webhook_found_by_its_id(client, platform):
    connect(client, platform)
    answer = connect(client, platform, public_url="https://new.example.com/")
    assert answer.get_json()["webhook"] == {"action": "updated", "id": the_webhook(platform)["_id"], "changed": ["url"]}
    assert the_webhook(platform)["url"] == "https://new.example.com/webhooks/launchdarkly"


def test_a_webhook_deleted_in_the_platform_is_created_again(client, platform):
    connect(client, platform)
    platform.webhooks.clear()
    answer = connect(client, platform)
    assert answer.get_json()["webhook"]["action"] == "created" and len(platform.webhooks) == 1


def test_a_platform_that_hides_secrets_is_not_patched_again_and_again(client):
    with FakeFlagPlatform(TOKEN, shows_secrets=False) as platform:
        connect(client, platform)
        assert connect(client, platform).get_json()["webhook"]["action"] == "unchanged"


@pytest.mark.parametrize("body, field", [
    ({"api_token": TOKEN}, "public_url"),
    ({"public_url": PUBLIC}, "api_token"),
    ({"api_token": TOKEN, "public_url": "not a url"}, "public_url"),
    ({"api_token": TOKEN, "public_url": PUBLIC + "/webhooks/launchdarkly"}, "public_url"),
    ({"api_token": TOKEN, "public_url": PUBLIC, "webhook_statements": [{"effect": "maybe"}]}, "webhook_statements"),
    ({"api_token": TOKEN, "public_url": PUBLIC, "api_url": "ftp://x"}, "api_url"),
    ({"api_token": TOKEN, "public_url": PUBLIC, "wire": "sometimes"}, "wire"),
])
def test_bad_input_is_refused_with_the_field_named(client, body, field):
    answer = client.put(PATH, json=body, headers=AUTH)
    assert answer.status_code == 400 and answer.is_json
    assert field in answer.get_json()["errors"]
    assert client.get(PATH, headers=AUTH).status_code == 404


def test_not_json_is_refused(client):
    answer = client.put(PATH, data="x", content_type="text/plain", headers=AUTH)
    assert answer.status_code == 415 and answer.is_json


def test_a_refused_token_leaves_nothing_stored(client, platform):
    answer = client.put(PATH, json={"api_token": "wrong-token-123456", "public_url": PUBLIC, "api_url": platform.url},
                        headers=AUTH)
    assert answer.status_code == 400
    assert "refused the API token (401" in answer.get_json()["error"]
    assert client.get(PATH, headers=AUTH).status_code == 404


def test_a_platform_that_is_down_leaves_the_previous_connection(client, platform):
    connect(client, platform)
    before = client.get(PATH, headers=AUTH).get_json()
    platform.down = True
    answer = connect(client, platform, public_url="https://new.example.com")
    assert answer.status_code == 502 and "try again later" in answer.get_json()["error"]
    assert client.get(PATH, headers=AUTH).get_json()["public_url"] == before["public_url"]


def test_events_signed_with_the_stored_secret_are_accepted(client, platform, app):
    connect(client, platform)
    secret = the_webhook(platform)["secret"]
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert client.post("/webhooks/launchdarkly", data=body, content_type="application/json").status_code == 401
    assert signed(client, body, "some-other-secret").status_code == 401
    assert signed(client, body, secret).status_code == 202
    state = get_state(app).db.connections.get("launchdarkly").state
    assert isinstance(state["last_event_at"], float)


def test_the_setting_secret_is_accepted_alongside_the_stored_one(make_app, platform):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_LAUNCHDARKLY_SECRET": "from-the-setting"}).test_client()
    connect(client, platform)
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert signed(client, body, "from-the-setting").status_code == 202
    other = fixture_bytes("launchdarkly/flag-rules-updated-staging.json")
    assert signed(client, other, the_webhook(platform)["secret"]).status_code == 202


def test_rotation_keeps_the_old_secret_valid_for_the_grace_period(make_app, platform):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}).test_client()
    connect(client, platform)
    old = the_webhook(platform)["secret"]
    answer = client.post(PATH + "/rotate-secret", headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    new = the_webhook(platform)["secret"]
    assert new != old and old not in json.dumps(answer.get_json()) and new not in json.dumps(answer.get_json())
    [patch] = platform.calls("PATCH")
    assert patch.json() == [{"op": "replace", "path": "/secret", "value": new}]
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert signed(client, body, old).status_code == 202
    assert signed(client, fixture_bytes("launchdarkly/flag-rules-updated-staging.json"), new).status_code == 202
    assert client.get(PATH, headers=AUTH).get_json()["webhook"]["previous_secret_valid_until"] is not None


def test_after_the_grace_period_the_old_secret_is_refused(make_app, platform):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_WEBHOOK_SECRET_GRACE_SECONDS": "0"}).test_client()
    connect(client, platform)
    old = the_webhook(platform)["secret"]
    assert client.post(PATH + "/rotate-secret", headers=AUTH).status_code == 200
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert signed(client, body, old).status_code == 401
    assert signed(client, body, the_webhook(platform)["secret"]).status_code == 202


def test_a_failed_rotation_keeps_the_secret(client, platform):
    connect(client, platform)
    old = the_webhook(platform)["secret"]
    platform.down = True
    answer = client.post(PATH + "/rotate-secret", headers=AUTH)
    assert answer.status_code == 502 and "not rotated" in answer.get_json()["error"]
    platform.down = False
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert signed(client, body, old).status_code == 202


def test_disconnect_deletes_the_webhook(client, platform):
    connect(client, platform)
    answer = client.delete(PATH, headers=AUTH)
    assert answer.status_code == 200 and answer.get_json()["webhook"] == "deleted"
    assert platform.webhooks == {} and len(platform.calls("DELETE")) == 1
    assert client.get(PATH, headers=AUTH).status_code == 404
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert client.post("/webhooks/launchdarkly", data=body, content_type="application/json").status_code == 202


def test_disconnect_can_keep_the_webhook_and_refuses_when_it_cannot_delete(client, platform):
    connect(client, platform)
    platform.down = True
    refused = client.delete(PATH, headers=AUTH)
    assert refused.status_code == 502 and "still connected" in refused.get_json()["error"]
    assert client.get(PATH, headers=AUTH).status_code == 200
    kept = client.delete(PATH + "?keep_webhook=1", headers=AUTH)
    assert kept.status_code == 200 and kept.get_json()["webhook"] == "kept" and len(platform.webhooks) == 1
    assert client.delete(PATH, headers=AUTH).status_code == 404
    assert client.delete(PATH + "?keep_webhook=perhaps", headers=AUTH).status_code == 400


def test_connection_status_reports_the_webhook(client, platform):
    connect(client, platform)
    report = client.get(PATH + "/status", headers=AUTH).get_json()
    assert report["state"] == "ok", report
    states = {c["name"]: c["state"] for c in report["checks"]}
    assert states == {"flag-platform API": "ok", "webhook exists": "ok", "webhook on": "ok",
                      "webhook URL": "ok", "webhook signed": "ok", "last event": "ok"}
    reads = len(platform.calls("GET"))
    assert client.get(PATH + "/status", headers=AUTH).get_json()["checked_at"] == report["checked_at"]
    assert len(platform.calls("GET")) == reads  # served from the stored result
    the_webhook(platform)["on"] = False
    the_webhook(platform)["url"] = "https://elsewhere.example.com/hook"
    refreshed = client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()
    checks = {c["name"]: c for c in refreshed["checks"]}
    assert refreshed["state"] == "error"
    assert checks["webhook on"]["state"] == "error" and checks["webhook on"]["action"] == "rewire"
    assert "points at 'https://elsewhere.example.com/hook'" in checks["webhook URL"]["message"]
    assert client.post(PATH + "/actions/rewire", headers=AUTH).status_code == 200
    fixed = client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()
    assert fixed["state"] == "ok", fixed
    assert client.get(PATH + "/status?refresh=maybe", headers=AUTH).status_code == 400


def test_a_webhook_gone_and_a_secret_changed_by_hand_are_errors(client, platform):
    connect(client, platform)
    the_webhook(platform)["secret"] = "changed-in-the-platform"
    checks = {c["name"]: c for c in client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()["checks"]}
    assert checks["webhook signed"]["state"] == "error" and "does not know" in checks["webhook signed"]["message"]
    platform.webhooks.clear()
    checks = {c["name"]: c for c in client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()["checks"]}
    assert checks["webhook exists"]["state"] == "error" and "is gone" in checks["webhook exists"]["message"]


def test_status_without_a_connection_is_404(client):
    assert client.get(PATH + "/status", headers=AUTH).status_code == 404
    assert client.post(PATH + "/rotate-secret", headers=AUTH).status_code == 404


def test_connection_secrets_are_never_logged(client, platform, caplog):
    caplog.set_level(logging.DEBUG)
    connect(client, platform)
    secret = the_webhook(platform)["secret"]
    client.post(PATH + "/rotate-secret", headers=AUTH)
    platform.down = True
    client.get(PATH + "/status?refresh=1", headers=AUTH)
    client.delete(PATH, headers=AUTH)
    assert TOKEN not in caplog.text and secret not in caplog.text
    assert the_webhook(platform)["secret"] not in caplog.text


def test_the_cli_connects_shows_and_disconnects(app, platform):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["connect", "launchdarkly", "--api-token", TOKEN, "--public-url", PUBLIC,
                                 "--api-url", platform.url, "--webhook-tag", "gw", "--webhook-tag", "prod"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["webhook"]["action"] == "created"
    assert the_webhook(platform)["tags"] == ["gw", "prod"]
    assert TOKEN not in result.output and the_webhook(platform)["secret"] not in result.output
    shown = runner.invoke(args=["connection", "show"])
    assert json.loads(shown.output)["public_url"] == PUBLIC
    status = runner.invoke(args=["connection", "status", "--refresh"])
    assert status.exit_code == 0 and json.loads(status.output)["state"] == "ok"
    rotated = runner.invoke(args=["connection", "rotate-secret"])
    assert rotated.exit_code == 0, rotated.output
    gone = runner.invoke(args=["disconnect"])
    assert gone.exit_code == 0 and json.loads(gone.output)["webhook"] == "deleted"
    assert runner.invoke(args=["connection", "status"]).exit_code != 0


def test_the_cli_says_what_is_wrong(app, platform):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["connect", "launchdarkly", "--api-token", TOKEN, "--api-url", platform.url])
    assert result.exit_code != 0 and "public_url" in result.output
    result = runner.invoke(args=["connect", "launchdarkly", "--api-token", TOKEN, "--public-url", PUBLIC,
                                 "--api-url", platform.url, "--statements", "[{"])
    assert result.exit_code != 0 and "not valid JSON" in result.output
    assert runner.invoke(args=["disconnect"]).exit_code != 0


def test_a_connection_stored_without_wiring_changes_neither_the_webhook_nor_the_signature_rule(client, platform):
    answer = connect(client, platform, wire=False)
    assert answer.status_code == 200 and answer.get_json()["webhook"] is None
    assert platform.webhooks == {}
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert client.post("/webhooks/launchdarkly", data=body, content_type="application/json").status_code == 202
    report = client.get(PATH + "/status", headers=AUTH).get_json()
    [check] = report["checks"]
    assert check["state"] == "warning" and check["action"] == "rewire"
    assert client.post(PATH + "/actions/rewire", headers=AUTH).get_json()["webhook"]["action"] == "created"
    other = fixture_bytes("launchdarkly/flag-rules-updated-staging.json")
    assert client.post("/webhooks/launchdarkly", data=other, content_type="application/json").status_code == 401
    assert signed(client, other, the_webhook(platform)["secret"]).status_code == 202


def test_settings_left_out_of_a_later_connect_are_kept(client, platform):
    statements = [{"effect": "allow", "resources": ["proj/checkout:env/*"], "actions": ["*"]}]
    connect(client, platform, webhook_name="Gateway EU", webhook_tags=["eu"], webhook_statements=statements)
    again = client.put(PATH, json={"public_url": "https://eu.example.com"}, headers=AUTH)
    assert again.get_json()["webhook"]["changed"] == ["url"]
    shown = client.get(PATH, headers=AUTH).get_json()["webhook"]
    assert (shown["name"], shown["tags"], shown["statements"]) == ("Gateway EU", ["eu"], statements)


def test_wiring_makes_the_stored_check_results_stale_so_they_run_again(client, platform):
    connect(client, platform, wire=False)
    before = client.get(PATH + "/status", headers=AUTH).get_json()
    assert [c["name"] for c in before["checks"]] == ["webhook exists"] and before["stale"] is False
    assert client.post(PATH + "/actions/rewire", headers=AUTH).status_code == 200
    after = client.get(PATH + "/status", headers=AUTH).get_json()
    assert after["checks"] == before["checks"] and after["stale"] is True  # the result from before the wiring
    fresh = client.get(PATH + "/status?refresh=1", headers=AUTH).get_json()
    assert fresh["stale"] is False and fresh["state"] == "ok"


def test_the_cli_connection_commands_are_recorded_as_cli_without_secrets(app, platform, caplog):
    runner = app.test_cli_runner()
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        runner.invoke(args=["connect", "launchdarkly", "--api-token", TOKEN, "--public-url", PUBLIC,
                            "--api-url", platform.url])
        runner.invoke(args=["connection", "rotate-secret"])
        runner.invoke(args=["connection", "rewire"])
        runner.invoke(args=["disconnect"])
        refused = runner.invoke(args=["disconnect"])
    assert refused.exit_code != 0 and "not connected" in refused.output.lower()
    actions = [(r.audit_action, r.audit_origin) for r in caplog.records if r.name == "gateway.audit"]
    assert actions == [("connection.connect", "cli"), ("connection.rotate_secret", "cli"),
                       ("connection.rewire", "cli"), ("connection.disconnect", "cli"),
                       ("connection.disconnect", "cli")]
    assert "refused (404)" in caplog.records[-1].getMessage()
    assert TOKEN not in caplog.text
