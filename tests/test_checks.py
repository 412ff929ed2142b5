"""Status checks and their actions, through the API and the CLI."""

from __future__ import annotations

import json

from .conftest import AUTH, add_integration


def test_status_and_action_through_the_api(client):
    ok = add_integration(client, "picky", config={"wanted_tag": "frontend"})
    broken = add_integration(client, "picky", name="broken", config={"wanted_tag": "missing"})
    shown = client.get(f"/api/v1/integrations/{ok['id']}/status", headers=AUTH).get_json()
    assert shown.pop("checked_at").startswith("20") and shown.pop("stale") is False
    assert shown == {
        "integration_id": ok["id"], "state": "ok",
        "checks": [{"name": "tag", "state": "ok", "message": "tag 'frontend' is set up"}]}
    report = client.get(f"/api/v1/integrations/{broken['id']}/status", headers=AUTH).get_json()
    assert report["state"] == "error"
    [check] = report["checks"]
    assert check["action"] == "set_up" and check["action_params"] == {"tag": "missing"}
    done = client.post(f"/api/v1/integrations/{broken['id']}/actions/set_up", json=check["action_params"], headers=AUTH)
    assert done.status_code == 200 and done.get_json() == {"action": "set_up", "message": "set up tag 'missing'"}


def test_a_status_hook_that_raises_is_a_red_check_for_people_the_exception_in_the_log(client, caplog):
    exploding = add_integration(client, "exploding")
    status = client.get(f"/api/v1/integrations/{exploding['id']}/status", headers=AUTH).get_json()
    [check] = status["checks"]
    assert check["state"] == "error" and "KeyError" not in check["message"] and "boom" not in check["message"]
    assert check["message"] == ("the checks of plugin 'exploding' failed with an error in the plugin; "
                                "the gateway's log has the details")
    assert "KeyError: 'boom in integration_status'" in caplog.text


def test_action_errors_are_json(client):
    picky = add_integration(client, "picky", config={"wanted_tag": "x"})
    unknown = client.post(f"/api/v1/integrations/{picky['id']}/actions/nope", json={}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown action 'nope'"
    broke = client.post(f"/api/v1/integrations/{picky['id']}/actions/explode", json={}, headers=AUTH)
    assert broke.status_code == 502
    assert broke.get_json()["error"] == ("the action 'explode' failed with an error in plugin 'picky'; "
                                         "the gateway's log has the details")
    assert "RuntimeError" not in broke.get_json()["error"]
    recorder = add_integration(client, "recorder", config={"token": "tok-abcdefgh-1234"})
    none = client.post(f"/api/v1/integrations/{recorder['id']}/actions/x", json={}, headers=AUTH)
    assert none.status_code == 404 and "offers no actions" in none.get_json()["error"]
    status = client.get(f"/api/v1/integrations/{recorder['id']}/status", headers=AUTH).get_json()
    del status["checked_at"], status["stale"]
    assert status == {"integration_id": recorder["id"], "state": "ok", "checks": []}


def test_status_and_action_in_the_cli(app, client):
    broken = add_integration(client, "picky", config={"wanted_tag": "missing"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["integrations", "status", broken["id"]])
    assert result.exit_code == 1
    assert json.loads(result.output)["checks"][0]["action"] == "set_up"
    result = runner.invoke(args=["integrations", "action", broken["id"], "set_up", "--params", '{"tag": "missing"}'])
    assert result.exit_code == 0 and json.loads(result.output)["message"] == "set up tag 'missing'"
    result = runner.invoke(args=["integrations", "action", broken["id"], "nope"])
    assert result.exit_code != 0 and "unknown action 'nope'" in result.output
    result = runner.invoke(args=["integrations", "action", broken["id"], "set_up", "--params", "[1]"])
    assert result.exit_code != 0 and "must be a JSON object" in result.output
