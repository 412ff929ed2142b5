"""The detail structures through the real gateway (a subprocess, over HTTP): a Dynatrace stand-in posts
notifications shaped like {ProblemDetailsJSON} (v1) and {ProblemDetailsJSONv2} (v2) templates; flag
triggers on a local fake record the calls."""

from __future__ import annotations

import pytest

from problem_helpers import SECRET, notification
from problem_process import DynatraceSender, decision, problems_gateway

ZONE_OFF = "/webhook/triggers/5f0a/zone-off"
ZONE_ON = "/webhook/triggers/5f0a/zone-on"
BROAD_OFF = "/webhook/triggers/5f0a/broad-off"
RULES = [
    {"name": "checkout zone", "management_zones": ["Checkout"], "project_key": "shop",
     "environment_key": "production", "flag_key": "new-checkout-flow", "turn_on_when_resolved": True,
     "trigger": "zone_off", "resolve_trigger": "zone_on"},
    {"name": "any problem", "project_key": "shop", "environment_key": "production", "flag_key": "kill-switch",
     "trigger": "broad_off"},
]


@pytest.fixture
def gateway_process(tmp_path):
    with problems_gateway(str(tmp_path), retry_schedule="0,0.2") as process:
        yield process


@pytest.fixture
def integration(gateway_process, triggers):
    urls = " ".join(f"{name}={triggers.url}{path}" for name, path in
                    (("zone_off", ZONE_OFF), ("zone_on", ZONE_ON), ("broad_off", BROAD_OFF)))
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "dynatrace-problems", "name": "Checkout kill switch",
        "config": {"shared_secret": SECRET, "cooldown_seconds": 0, "rules": RULES, "trigger_urls": urls}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(gateway_process, integration, body):
    return DynatraceSender(gateway_process, integration).send_accepted(body)


def status(gateway_process, integration):
    answer = gateway_process.admin("GET", f"/api/v1/integrations/{integration}/status?refresh=1")
    assert answer.status_code == 200, answer.text
    return {c["name"]: c for c in answer.json()["checks"]}["notifications"]


def test_v1_details_stop_at_the_zone_rule_and_the_broad_rule_does_not_act(gateway_process, integration, triggers):
    event_id = send(gateway_process, integration, notification("problem-open-details-v1"))
    skipped = decision(gateway_process, event_id, "skipped")
    assert ("rule 'checkout zone' cannot be judged: the notification carries no management zones, which the rule "
            "filters on; no later rule acts. Add \"ProblemDetailsJSONv2\": {ProblemDetailsJSONv2}") in skipped["reason"]
    assert triggers.received() == []
    check = status(gateway_process, integration)
    assert check["state"] == "warning" and "carried no management zones" in check["message"]


def test_v2_details_act_and_closed_turns_the_flag_back_on(gateway_process, integration, triggers):
    opened = send(gateway_process, integration, notification())
    triggers.wait_for(1, ZONE_OFF)
    decision(gateway_process, opened, "delivered")
    assert status(gateway_process, integration)["state"] == "ok"
    closed = notification(State=None)
    closed["ProblemDetailsJSONv2"] = {**closed["ProblemDetailsJSONv2"], "status": "CLOSED", "endTime": 1700919729000}
    resolved = send(gateway_process, integration, closed)
    triggers.wait_for(1, ZONE_ON)
    decision(gateway_process, resolved, "delivered")
    assert triggers.received(BROAD_OFF) == []


def test_a_merged_problem_is_recorded_and_acts_on_nothing(gateway_process, integration, triggers):
    event_id = send(gateway_process, integration, notification(State="MERGED"))
    skipped = decision(gateway_process, event_id, "skipped")
    assert "was merged into another problem (MERGED): recorded, acts on nothing" in skipped["reason"]
    assert triggers.received() == []
