"""A request with several mistakes is answered with all of them at once: the request's own fields
(name, enabled, ...) together with the plugin's config and the policy, in the API and the CLI."""

from __future__ import annotations

import json
import logging

from .conftest import AUTH


def _errors(response):
    assert response.status_code == 400, response.get_data(as_text=True)
    return response.get_json()["errors"]


def test_create_names_a_missing_name_and_the_config_errors_together(client, state):
    response = client.post("/api/v1/integrations", headers=AUTH,
                           json={"plugin": "recorder", "config": {"url": "not a url"}})
    errors = _errors(response)
    assert set(errors) == {"name", "config.token", "config.url"}
    assert state.db.integrations.list() == []


def test_create_names_request_config_and_policy_errors_together(client, state):
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "", "enabled": "yes", "config": {},
        "policy": [{"effect": "perhaps", "resources": ["proj/*"], "actions": ["*"]}],
    })
    errors = _errors(response)
    assert {"name", "enabled", "config.token"} <= set(errors)
    assert any(path.startswith("policy") for path in errors), errors
    assert state.db.integrations.list() == []


def test_an_unknown_plugin_is_named_beside_the_other_errors(client):
    errors = _errors(client.post("/api/v1/integrations", headers=AUTH,
                                 json={"plugin": "nonesuch", "config": {}}))
    assert set(errors) == {"name", "plugin"}
    assert "unknown plugin 'nonesuch'" in errors["plugin"][0]


def test_a_wrong_config_type_is_one_error_not_two(client):
    errors = _errors(client.post("/api/v1/integrations", headers=AUTH,
                                 json={"plugin": "recorder", "config": "token"}))
    assert set(errors) == {"name", "config"}


def test_update_names_its_own_errors_and_the_config_errors_together(client, state):
    created = client.post("/api/v1/integrations", headers=AUTH,
                          json={"plugin": "recorder", "name": "rec", "config": {"token": "t0ken-value-1"}})
    assert created.status_code == 201
    integration_id = created.get_json()["id"]
    response = client.patch(f"/api/v1/integrations/{integration_id}", headers=AUTH,
                            json={"name": "", "config": {"url": "ftp://example.com"}})
    errors = _errors(response)
    assert set(errors) == {"name", "config.url"}
    row = state.db.integrations.get(integration_id)
    assert row.name == "rec" and row.config.get("url") is None  # nothing was changed


def test_a_valid_update_still_applies(client, state):
    created = client.post("/api/v1/integrations", headers=AUTH,
                          json={"plugin": "recorder", "name": "rec", "config": {"token": "t0ken-value-1"}})
    integration_id = created.get_json()["id"]
    response = client.patch(f"/api/v1/integrations/{integration_id}", headers=AUTH,
                            json={"name": "renamed", "config": {"label": "blue"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert state.db.integrations.get(integration_id).name == "renamed"


def test_cli_add_reports_every_config_error_and_is_recorded_as_cli(app, caplog):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["integrations", "add", "recorder", "--name", "rec",
                                 "--config", json.dumps({"url": "not a url"})])
    assert result.exit_code != 0
    assert "config.token" in result.output and "config.url" in result.output
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        result = runner.invoke(args=["integrations", "add", "recorder", "--name", "rec",
                                     "--config", json.dumps({"token": "t0ken-value-1"})])
    assert result.exit_code == 0, result.output
    assert any(r.getMessage().startswith("admin action integration.create origin=cli") for r in caplog.records)
