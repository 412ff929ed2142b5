"""Replay and override through the real gateway over HTTP (a subprocess, a fake target on loopback): a
staging change the policy denies stays denied when replayed and reaches the target only through an
explicit override, which the event's history records beside the original skip."""

from __future__ import annotations

import json

from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .conftest import fixture_bytes

PRODUCTION_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]
ENV = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", "GATEWAY_WORKERS": "1",
       "GATEWAY_PROCESSES": "1", "GATEWAY_RETRY_SCHEDULE": "0,0.2"}


def test_a_denied_event_is_sent_only_by_an_override_and_both_decisions_stay_visible(tmp_path):
    with FakeService(Reply(200, {})) as target, GatewayProcess(str(tmp_path), env=ENV) as gateway:
        created = gateway.admin("POST", "/api/v1/integrations", json={
            "plugin": "webhook", "name": "production only", "config": {"url": target.url + "/hook"},
            "policy": PRODUCTION_ONLY})
        assert created.status_code == 201, created.text
        integration_id = created.json()["id"]
        answer = gateway.post_webhook(fixture_bytes("launchdarkly/flag-rules-updated-staging.json"))
        assert answer.status_code == 202 and answer.json()["skipped"] == 1, answer.text
        event_id = answer.json()["event_id"]
        [original] = gateway.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]
        assert original["status"] == "skipped" and "env/staging" in original["reason"]

        replayed = gateway.admin("POST", f"/api/v1/integrations/{integration_id}/replay", json={"event_ids": [event_id]})
        assert replayed.status_code == 200 and replayed.json()["skipped"] == 1, replayed.text
        unconfirmed = gateway.admin("POST", f"/api/v1/integrations/{integration_id}/override",
                                    json={"event_id": event_id, "confirm": ["cooldown"]})
        assert unconfirmed.status_code == 409 and "policy: denied" in unconfirmed.json()["error"]
        assert target.received() == []

        overridden = gateway.admin("POST", f"/api/v1/integrations/{integration_id}/override",
                                   json={"event_id": event_id, "confirm": ["policy"]})
        assert overridden.status_code == 200, overridden.text
        assert overridden.json()["overrode"] == [{"stage": "policy", "reason": original["reason"]}]
        [sent] = target.wait_for(1, "/hook")
        assert sent.json()["source_id"] == json.loads(fixture_bytes(
            "launchdarkly/flag-rules-updated-staging.json"))["_id"]

        def delivered():
            shown = gateway.admin("GET", f"/api/v1/events/{event_id}").json()
            return shown["decisions"][0]["status"] == "delivered" and shown
        shown = wait_until(delivered, 15, message="the overridden delivery")
        assert [(h["action"], h["outcome"], h["origin"]) for h in shown["history"]] == [
            ("replay", "skipped", "api"), ("override", "queued", "api")]
        assert all(h["previous_reason"] == original["reason"] for h in shown["history"])
        assert "integration.override" in gateway.log() and "overrode=policy" in gateway.log()
