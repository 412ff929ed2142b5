"""Checks in the background: run after a change and periodically, stored with their time, served
without running again (``?refresh=1`` runs them), exported to /metrics, a change to error logged.
And a delivery recorded as delivered with the plugin's warnings."""

from __future__ import annotations

import json
import logging

from gateway import Delivered
from gateway.runtime.check_runner import CheckRunner
from gateway.delivery import Deliverer
from gateway.store.base import now
from gateway.testing import wait_until

from .conftest import AUTH, add_integration, fixture_bytes
from .delivery_support import add, delivery_app, dclient, dstate, queue_event, scripted  # noqa: F401


def status(client, integration_id, query=""):
    return client.get(f"/api/v1/integrations/{integration_id}/status{query}", headers=AUTH).get_json()


def test_checks_run_when_due_and_only_then(client, state):
    picky = add_integration(client, "picky", config={"wanted_tag": "frontend"})
    runner = CheckRunner(state, interval=3600)
    assert runner.run_due() == 1
    assert runner.run_due() == 0
    first = status(client, picky["id"])
    assert first["state"] == "ok" and first["stale"] is False
    client.patch(f"/api/v1/integrations/{picky['id']}", json={"config": {"wanted_tag": "missing"}}, headers=AUTH)
    assert status(client, picky["id"])["stale"] is True  # changed since: the stored result says so
    assert runner.run_due() == 1
    after = status(client, picky["id"])
    assert after["state"] == "error" and after["stale"] is False and after["checked_at"] >= first["checked_at"]


def test_checks_run_again_after_the_interval(client, state):
    add_integration(client, "picky", config={"wanted_tag": "frontend"})
    runner = CheckRunner(state, interval=0.000001)
    assert runner.run_due() == 1
    assert runner.run_due() == 1


def test_disabled_integrations_are_not_checked_in_the_background(client, state):
    add_integration(client, "picky", config={"wanted_tag": "frontend"}, enabled=False)
    assert CheckRunner(state, interval=3600).run_due() == 0


def test_status_serves_the_stored_result_and_refresh_runs_again(client, state):
    picky = add_integration(client, "picky", config={"wanted_tag": "frontend"})
    CheckRunner(state, interval=3600).run_due()
    stored = status(client, picky["id"])
    assert status(client, picky["id"])["checked_at"] == stored["checked_at"]
    refreshed = status(client, picky["id"], "?refresh=1")
    assert refreshed["checked_at"] > stored["checked_at"]
    bad = client.get(f"/api/v1/integrations/{picky['id']}/status?refresh=often", headers=AUTH)
    assert bad.status_code == 400 and "refresh" in bad.get_json()["error"]


def test_a_change_to_error_is_logged_once(client, state, caplog):
    picky = add_integration(client, "picky", config={"wanted_tag": "frontend"})
    runner = CheckRunner(state, interval=0.000001)
    runner.run_due()
    client.patch(f"/api/v1/integrations/{picky['id']}", json={"config": {"wanted_tag": "missing"}}, headers=AUTH)
    with caplog.at_level(logging.INFO, logger="gateway.runtime.status"):
        runner.run_due()
        runner.run_due()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "check 'tag' of integration" in errors[0].getMessage() and "changed to error" in errors[0].getMessage()


def test_metrics_export_each_check(client, state):
    ok = add_integration(client, "picky", name="fine", config={"wanted_tag": "frontend"})
    bad = add_integration(client, "picky", name="broken", config={"wanted_tag": "missing"})
    CheckRunner(state, interval=3600).run_due()
    text = client.get("/metrics").get_data(as_text=True)
    assert f'gateway_check_state{{check="tag",integration="fine",integration_id="{ok["id"]}",plugin="picky"}} 0.0' in text
    assert f'gateway_check_state{{check="tag",integration="broken",integration_id="{bad["id"]}",plugin="picky"}} 2.0' in text
    assert "gateway_check_timestamp_seconds{" in text
    client.delete(f"/api/v1/integrations/{bad['id']}", headers=AUTH)
    assert bad["id"] not in client.get("/metrics").get_data(as_text=True)


def test_the_runner_thread_checks_a_new_integration_at_once(client, state):
    runner = CheckRunner(state, interval=3600, poll_seconds=3600)
    runner.start()
    try:
        picky = add_integration(client, "picky", config={"wanted_tag": "frontend"})
        wait_until(lambda: state.db.check_results.get(f"integration:{picky['id']}"), 10,
                   message="the background check of the new integration")
    finally:
        runner.stop()


def test_a_delivery_with_warnings_is_delivered_and_shows_them(dclient, dstate, scripted):
    integration = add(dstate)
    scripted.script = [Delivered("imported", warnings=("no metric counts 'sentry-errors' in project shop",))]
    event_id, _ = queue_event(dstate, integration.id, "warn-1")
    delivery = dstate.db.deliveries.claim("w1", 30, now())
    report = Deliverer(dstate, "w1").attempt(delivery)
    assert report.status == "delivered"
    shown = dclient.get(f"/api/v1/deliveries/{delivery.id}", headers=AUTH).get_json()
    assert shown["status"] == "delivered"
    assert shown["warnings"] == ["no metric counts 'sentry-errors' in project shop"]
    assert "warning: no metric counts" in shown["attempt_log"][0]["reason"]
    [decision] = dclient.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]
    assert decision["warnings"] == shown["warnings"]
    result = dclient.application.test_cli_runner().invoke(args=["deliveries", "show", delivery.id])
    assert json.loads(result.output)["warnings"] == shown["warnings"]


def test_a_delivery_without_warnings_shows_none(dclient, dstate, scripted):
    integration = add(dstate)
    queue_event(dstate, integration.id, "plain-1")
    delivery = dstate.db.deliveries.claim("w1", 30, now())
    Deliverer(dstate, "w1").attempt(delivery)
    assert dclient.get(f"/api/v1/deliveries/{delivery.id}", headers=AUTH).get_json()["warnings"] == []


def test_webhooks_signed_without_any_secret_configured_are_taken(client):
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    assert client.post("/webhooks/launchdarkly", data=body, content_type="application/json").status_code == 202
