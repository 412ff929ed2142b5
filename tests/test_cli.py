"""The CLI, through Flask's test runner: JSON out, clear errors and a non-zero exit on bad input."""

from __future__ import annotations

import json
import logging

from .conftest import fixture_bytes

TOKEN = "cli-secret-token-abcdef"


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_plugins_lists_key_distribution_version_and_hooks(make_app):
    app = make_app(plugins=(), entry_points=True)
    result = invoke(app, "plugins")
    assert result.exit_code == 0, result.output
    listed = {item["key"]: item for item in json.loads(result.output)["items"]}
    assert listed["webhook"]["distribution"] == "event-gateway-webhook"
    assert listed["webhook"]["version"] == "0.1.0"
    assert "deliver_event" in listed["webhook"]["hooks"]
    assert "launchdarkly" not in listed
    everything = json.loads(invoke(app, "plugins", "--all").output)
    assert "launchdarkly" in {item["key"] for item in everything["items"]}
    assert everything["refused"] == []


def test_plugins_all_shows_filtered_ones(make_app):
    app = make_app({"GATEWAY_PLUGINS": "webhook"}, plugins=(), entry_points=True)
    everything = json.loads(invoke(app, "plugins", "--all").output)
    assert {"dynatrace", "sentry"} <= {item["entry_point"] for item in everything["filtered"]}


def test_integration_lifecycle(app):
    result = invoke(app, "integrations", "add", "recorder", "--name", "rec", "--config", json.dumps({"token": TOKEN}))
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["config"]["token"] == "****cdef" and TOKEN not in result.output
    assert json.loads(invoke(app, "integrations", "list").output)[0]["id"] == created["id"]
    assert json.loads(invoke(app, "integrations", "disable", created["id"]).output)["enabled"] is False
    assert json.loads(invoke(app, "integrations", "enable", created["id"]).output)["enabled"] is True
    assert json.loads(invoke(app, "integrations", "show", created["id"]).output)["name"] == "rec"
    assert json.loads(invoke(app, "integrations", "remove", created["id"]).output) == {"removed": created["id"]}
    assert json.loads(invoke(app, "integrations", "list").output) == []


def test_integration_changes_are_recorded_in_the_audit_log_as_cli(app, caplog):
    created = json.loads(invoke(app, "integrations", "add", "recorder", "--name", "rec",
                                "--config", json.dumps({"token": TOKEN})).output)
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        invoke(app, "integrations", "disable", created["id"])
        invoke(app, "integrations", "replay", created["id"], "--since", "2026-01-01T00:00:00Z")
        invoke(app, "integrations", "remove", created["id"])
        missing = invoke(app, "integrations", "enable", created["id"])
    assert missing.exit_code != 0 and f"no integration {created['id']!r}" in missing.output
    records = [r for r in caplog.records if r.name == "gateway.audit"]
    assert [(r.audit_action, r.audit_origin) for r in records] == [
        ("integration.update", "cli"), ("integration.replay", "cli"), ("integration.delete", "cli")]
    assert records[0].audit_details["changed"] == "enabled"
    assert TOKEN not in caplog.text


def test_add_reads_config_from_a_file(app, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"token": TOKEN, "label": "from-file"}))
    result = invoke(app, "integrations", "add", "recorder", "--name", "f", "--config", f"@{path}")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["label"] == "from-file"


def test_bad_input_exits_non_zero_with_a_clear_message(app):
    cases = [
        (["integrations", "add", "nope", "--name", "x"], "unknown plugin 'nope'"),
        (["integrations", "add", "recorder", "--name", "x", "--config", "{bad"], "not valid JSON"),
        (["integrations", "add", "recorder", "--name", "x", "--config", "{}"], "config.token"),
        (["integrations", "add", "recorder", "--name", "x", "--config", "@/no/such/file"], "cannot read"),
        (["integrations", "show", "missing-id"], "no integration 'missing-id'"),
        (["integrations", "enable", "missing-id"], "no integration 'missing-id'"),
        (["events", "show", "missing-id"], "no event 'missing-id'"),
    ]
    for args, message in cases:
        result = invoke(app, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert json.loads(invoke(app, "integrations", "list").output) == []


def test_events_list_and_show(app, client):
    invoke(app, "integrations", "add", "recorder", "--name", "rec", "--config", json.dumps({"token": TOKEN}))
    answer = client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                         content_type="application/json").get_json()
    listed = json.loads(invoke(app, "events", "list").output)
    assert [e["id"] for e in listed] == [answer["event_id"]]
    assert sum(listed[0]["decisions"].values()) == 1  # the recorder's decision, in whatever state it is now
    assert set(listed[0]["decisions"]) <= {"pending", "in_flight", "delivered"}
    shown = json.loads(invoke(app, "events", "show", answer["event_id"]).output)
    assert shown["decisions"][0]["status"] in ("pending", "in_flight", "delivered")
    assert shown["event"]["flag_key"] == "new-checkout-flow"


def test_events_list_counts_each_events_decisions_by_status(app, client):
    invoke(app, "integrations", "add", "recorder", "--name", "production", "--config", json.dumps({"token": TOKEN}))
    for n in range(3):  # policies of their own: production only, so a staging change skips them
        invoke(app, "integrations", "add", "recorder", "--name", f"staging-{n}", "--config", json.dumps({"token": TOKEN}),
               "--policy", json.dumps([{"effect": "allow", "resources": ["proj/*:env/staging:flag/*"],
                                        "actions": ["*"]}]))
    answer = client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                         content_type="application/json").get_json()
    [listed] = json.loads(invoke(app, "events", "list").output)
    assert listed["id"] == answer["event_id"]
    assert listed["decisions"].get("skipped") == 3
    assert sum(n for status, n in listed["decisions"].items() if status != "skipped") == 1


def test_policy_check(app, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps([{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]))
    prod = tmp_path / "prod.json"
    prod.write_bytes(fixture_bytes("launchdarkly/flag-turned-on-production.json"))
    staging = tmp_path / "staging.json"
    staging.write_bytes(fixture_bytes("launchdarkly/flag-rules-updated-staging.json"))
    allowed = invoke(app, "policy", "check", "--policy", str(policy), "--event", str(prod))
    assert allowed.exit_code == 0 and json.loads(allowed.output)["allowed"] is True
    denied = invoke(app, "policy", "check", "--policy", str(policy), "--event", str(staging))
    assert denied.exit_code == 1
    assert "updateRules on proj/checkout:env/staging:flag/new-checkout-flow" in json.loads(denied.output)["reason"]
    access = invoke(app, "policy", "check", "--policy", str(policy), "--access", "updateOn:proj/a:env/production:flag/b")
    assert access.exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"effect": "maybe", "resources": ["proj/*"], "actions": ["*"]}]))
    invalid = invoke(app, "policy", "check", "--policy", str(bad), "--event", str(prod))
    assert invalid.exit_code == 2 and "policy[0].effect" in invalid.output
