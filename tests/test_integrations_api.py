"""The admin API's integrations: validation keyed by field path, secrets write-only and encrypted."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from sqlalchemy import select

from gateway.store.tables import integrations as integrations_table

from .conftest import AUTH, add_integration

TOKEN = "very-secret-token-value-9876"


def test_admin_api_needs_the_token(client):
    assert client.get("/api/v1/integrations").status_code == 401
    assert client.get("/api/v1/integrations", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/integrations", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/api/v1/integrations", headers=AUTH).status_code == 200


def test_generated_admin_token_is_printed_once_and_only_its_hash_kept(make_app, tmp_path, capsys):
    instance = tmp_path / "generated"
    make_app({"GATEWAY_ADMIN_TOKEN": ""}, instance=instance)
    printed = capsys.readouterr().err
    token = printed.split("keep it safe):\n", 1)[1].split()[0]
    stored = (instance / "admin-token.sha256").read_text()
    assert token not in stored
    assert stat.S_IMODE(os.stat(instance / "admin-token.sha256").st_mode) == 0o600
    again = make_app({"GATEWAY_ADMIN_TOKEN": ""}, instance=instance)
    assert token not in capsys.readouterr().err
    assert again.test_client().get("/api/v1/plugins", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_show_update_delete(client):
    created = add_integration(client, "recorder", name="rec", config={"token": TOKEN, "label": "x"})
    assert created["enabled"] is True
    assert created["policy"] == [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]
    assert created["config"] == {"token": "****9876", "url": None, "label": "x"}
    shown = client.get(f"/api/v1/integrations/{created['id']}", headers=AUTH).get_json()
    assert shown == created
    changed = client.patch(f"/api/v1/integrations/{created['id']}", json={"name": "renamed", "enabled": False},
                           headers=AUTH).get_json()
    assert changed["name"] == "renamed" and changed["enabled"] is False
    listed = client.get("/api/v1/integrations", headers=AUTH).get_json()["items"]
    assert [i["id"] for i in listed] == [created["id"]]
    assert client.delete(f"/api/v1/integrations/{created['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/integrations/{created['id']}", headers=AUTH).status_code == 404
    assert client.delete(f"/api/v1/integrations/{created['id']}", headers=AUTH).status_code == 404


@pytest.mark.parametrize("body, errors", [
    ({"plugin": "recorder", "name": "x", "config": {}}, {"config.token": ["Missing data for required field."]}),
    ({"plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": "not a url"}}, {"config.url": ["'not a url' is not an absolute http(s) URL"]}),
    ({"plugin": "recorder", "name": "x", "config": {"token": TOKEN, "surprise": 1}}, {"config.surprise": ["Unknown field."]}),
    ({"plugin": "recorder", "name": "", "config": {"token": TOKEN}}, {"name": ["Length must be between 1 and 200."]}),
    ({"plugin": "recorder", "config": {"token": TOKEN}}, {"name": ["Missing data for required field."]}),
    ({"plugin": "recorder", "name": "x", "config": "token"}, {"config": ["Not a valid mapping type."]}),
])
def test_invalid_input_is_400_keyed_by_field_path(client, body, errors):
    response = client.post("/api/v1/integrations", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["errors"] == errors
    assert client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == []


def test_private_target_refused_unless_allowed(make_app):
    strict = make_app().test_client()
    response = strict.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": "http://127.0.0.1:9/x"}})
    assert response.status_code == 400
    assert "plain http://" in response.get_json()["errors"]["config.url"][0]
    response = strict.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": "https://10.1.2.3/x"}})
    assert "private, loopback or link-local" in response.get_json()["errors"]["config.url"][0]
    relaxed = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}).test_client()
    response = relaxed.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": "http://127.0.0.1:9/x"}})
    assert response.status_code == 201


def test_invalid_policy_points_at_the_spot(client):
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN},
        "policy": [{"effect": "allow", "resources": ["proj/*"], "actions": ["*"]},
                   {"effect": "allow", "resources": ["flg/x"], "actions": ["*"]}]})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == ["policy[1].resources[0]"]
    assert 'unknown resource type "flg"' in errors["policy[1].resources[0]"][0]


def test_unknown_plugin_names_the_installed_ones(client):
    response = client.post("/api/v1/integrations", json={"plugin": "nope", "name": "x"}, headers=AUTH)
    assert response.status_code == 400
    message = response.get_json()["errors"]["plugin"][0]
    assert "unknown plugin 'nope'" in message and "recorder" in message and "picky" in message


def test_wrong_content_type_and_malformed_body(client):
    assert client.post("/api/v1/integrations", data="{}", headers=AUTH, content_type="text/plain").status_code == 415
    response = client.post("/api/v1/integrations", data="{nope", headers=AUTH, content_type="application/json")
    assert response.status_code == 400 and "malformed JSON" in response.get_json()["error"]


def test_update_without_the_secret_keeps_it(client, state):
    created = add_integration(client, "recorder", config={"token": TOKEN})
    for config in ({"label": "new"}, {"label": "newer", "token": "****9876"}):
        response = client.patch(f"/api/v1/integrations/{created['id']}", json={"config": config}, headers=AUTH)
        assert response.status_code == 200
    active = state.integrations.active(state.db.integrations.get(created["id"]))
    assert active.config["token"] == TOKEN and active.config["label"] == "newer"
    response = client.patch(f"/api/v1/integrations/{created['id']}", json={"config": {"token": "replaced-secret-5555"}},
                            headers=AUTH)
    assert response.get_json()["config"]["token"] == "****5555"


def test_update_that_removes_a_required_secret_is_refused(client):
    created = add_integration(client, "recorder", config={"token": TOKEN})
    response = client.patch(f"/api/v1/integrations/{created['id']}", json={"config": {"token": None}}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"config.token": ["Missing data for required field."]}


def test_secrets_are_encrypted_at_rest_and_never_in_answers_or_logs(app, client, state, caplog):
    caplog.set_level(logging.DEBUG)
    created = add_integration(client, "recorder", config={"token": TOKEN})
    client.post("/webhooks/launchdarkly", content_type="application/json", data=json.dumps(
        {"_id": "e1", "accesses": [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}], "kind": "flag"}))
    answers = [client.get(path, headers=AUTH).get_data(as_text=True) for path in (
        "/api/v1/integrations", f"/api/v1/integrations/{created['id']}", "/api/v1/plugins", "/api/v1/events",
        "/api/v1/openapi.json")]
    event_id = json.loads(answers[3])["items"][0]["id"]
    answers.append(client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_data(as_text=True))
    for text in answers + [record.getMessage() for record in caplog.records]:
        assert TOKEN not in text
    with state.db.engine.connect() as connection:
        row = connection.execute(select(integrations_table)).one()
    assert TOKEN not in json.dumps([str(v) for v in row])
    key_file = os.path.join(app.instance_path, "secret.key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_gateway_secret_key_setting_is_used(make_app, tmp_path):
    """Secrets are sealed with the passphrase: not in the clear in the database, readable with the
    same passphrase, not with another one nor with a generated key file."""
    from gateway.crypto import SecretBox, SecretBoxError
    from gateway.host.state import get_state

    instance = tmp_path / "keyed"
    app = make_app({"GATEWAY_SECRET_KEY": "a passphrase the operator chose"}, instance=instance)
    created = add_integration(app.test_client(), "recorder", config={"token": TOKEN})
    assert not os.path.exists(os.path.join(app.instance_path, "secret.key"))
    state = get_state(app)
    row = state.db.integrations.get(created["id"])
    assert TOKEN not in json.dumps(row.config) and TOKEN not in row.secrets
    if state.settings.database_url.startswith("sqlite:///"):
        state.db.dispose()
        stored = b"".join(path.read_bytes() for path in instance.glob("gateway.db*"))
        assert stored and TOKEN.encode() not in stored
    assert SecretBox("a passphrase the operator chose", str(instance)).open(row.secrets) == {"token": TOKEN}
    with pytest.raises(SecretBoxError):
        SecretBox("another passphrase", str(instance)).open(row.secrets)
    (tmp_path / "other-instance").mkdir()
    with pytest.raises(SecretBoxError):
        SecretBox(None, str(tmp_path / "other-instance")).open(row.secrets)


def test_a_plugin_error_that_quotes_a_secret_is_redacted_in_reasons_and_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    add_integration(client, "leaky", config={"token": TOKEN})
    answer = client.post("/webhooks/launchdarkly", content_type="application/json", data=json.dumps(
        {"_id": "e2", "accesses": [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}], "kind": "flag"}))
    detail = client.get(f"/api/v1/events/{answer.get_json()['event_id']}", headers=AUTH).get_json()
    [decision] = detail["decisions"]
    assert decision["status"] == "skipped"
    assert decision["reason"] == "plugin 'leaky' policy hook raised ValueError: cannot use token [redacted]"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "cannot use token [redacted]" in logged
    assert TOKEN not in logged and TOKEN not in json.dumps(detail)


def test_redaction_covers_encoded_forms():
    from gateway.redaction import clean_url, redact

    secret = "ab/cd+ef==\"gh"
    assert clean_url("https://x.example/p?token=ab%2Fcd%2Bef%3D%3D%22gh&a=1", [secret]) == \
        "https://x.example/p?token=[redacted]&a=1"
    assert redact('{"echo": "ab/cd+ef==\\"gh"}', [secret]) == '{"echo": "[redacted]"}'
    assert redact("q=ab%2Fcd%2Bef%3D%3D%22gh", [secret]) == "q=[redacted]"


def test_an_integration_with_a_running_attempt_cannot_be_removed(client, state):
    created = add_integration(client, "recorder", config={"token": TOKEN})
    answer = client.post("/webhooks/launchdarkly", content_type="application/json", data=json.dumps(
        {"_id": "e3", "accesses": [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}], "kind": "flag"}))
    assert answer.get_json()["queued"] == 1
    [claimed] = state.db.deliveries.claim_many("w-test", 60, 10**10, 1)  # as a worker would, mid-attempt
    response = client.delete(f"/api/v1/integrations/{created['id']}", headers=AUTH)
    assert response.status_code == 409 and "disable the integration" in response.get_json()["error"]
    assert client.get(f"/api/v1/integrations/{created['id']}", headers=AUTH).status_code == 200
    state.db.deliveries.release(["w-test"], 10**10)
    assert client.delete(f"/api/v1/integrations/{created['id']}", headers=AUTH).status_code == 204
    detail = client.get(f"/api/v1/events/{answer.get_json()['event_id']}", headers=AUTH).get_json()
    assert detail["decisions"] == []  # the event stays, the removed integration's delivery goes
    assert claimed.integration_id == created["id"]
