"""Batched imports through the real gateway (a subprocess, over HTTP) and a fake LaunchDarkly events
API on loopback: a burst goes out in few requests, a bad event is split off, a retried batch keeps its
payload id."""

from __future__ import annotations

import json
import uuid

import gateway
import pytest
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from sentry_helpers import ACCESS_TOKEN, CLIENT_SECRET, fixture_json

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

MAPPING = {"sentry_project": "4504123456789012", "sentry_environment": "production",
           "ld_project": "checkout", "ld_environment": "production"}
IMPORT_PATH = "/v2/event-data-import/checkout/production"


def error_body(n: int) -> bytes:
    body = fixture_json("error-created-with-ld-context.json")
    body["data"]["error"]["event_id"] = f"{n:032x}"
    return json.dumps(body).encode()


def sent_ids(request) -> list[str]:
    return [entry["data"]["sentryEventId"] for entry in request.json()]


@pytest.fixture
def events_api():
    with FakeService(Reply(202, None)) as service:
        yield service


@pytest.fixture
def gateway_process(tmp_path):
    # one process with one worker, so that the whole burst is gathered by it (each process of a
    # pre-fork server has a worker of its own); the retry schedule is fast
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "sentry", "GATEWAY_WORKERS": "1",
           "GATEWAY_PROCESSES": "1",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def add_integration(gateway_process, events_api, **batching):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "sentry", "name": "Sentry checkout",
        "config": {"client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN,
                   "environment_mappings": [MAPPING], "events_url": events_api.url, "api_url": events_api.url,
                   **batching}})
    assert response.status_code == 201, response.text
    return response.json()


def send(gateway_process, integration, n: int) -> str:
    body = error_body(n)
    answer = gateway_process.post_webhook(body, path=f"/webhooks/integrations/{integration['id']}", headers={
        "Sentry-Hook-Resource": "error", "Request-ID": str(uuid.uuid4()),
        "Sentry-Hook-Signature": gateway.hmac_sha256_hex(CLIENT_SECRET, body)})
    assert answer.status_code == 202, answer.text
    return answer.json()["events"][0]["event_id"]


def settled(gateway_process, event_ids, status="delivered"):
    def read():
        decisions = [gateway_process.admin("GET", f"/api/v1/events/{e}").json()["decisions"][0] for e in event_ids]
        return all(d["status"] in (status, "dead") for d in decisions) and decisions
    return wait_until(read, 30, message="every delivery settled")


def imports(events_api):
    return [r for r in events_api.received() if r.path.split("?")[0] == IMPORT_PATH]


def test_a_burst_is_imported_in_few_requests_each_event_once(gateway_process, events_api):
    integration = add_integration(gateway_process, events_api, batch_size=10, batch_delay_seconds=5)
    event_ids = [send(gateway_process, integration, n) for n in range(25)]
    decisions = settled(gateway_process, event_ids)
    assert all(d["status"] == "delivered" for d in decisions)
    requests = imports(events_api)
    assert sorted(e for r in requests for e in sent_ids(r)) == [f"{n:032x}" for n in range(25)]
    assert all(len(sent_ids(r)) <= 10 for r in requests) and len(requests) <= 5
    # each delivery's attempt log holds the one request that carried it
    detail = decisions[0]
    [attempt] = detail["attempt_log"]
    [exchange] = [x for x in attempt["http"] if x["method"] == "POST"]
    assert exchange["status"] == 202 and ACCESS_TOKEN not in json.dumps(detail)


def test_one_bad_event_is_split_off_and_the_rest_imported(gateway_process, events_api):
    bad = f"{3:032x}"

    def reply(request):
        if request.path.split("?")[0] == IMPORT_PATH and bad in sent_ids(request):
            return Reply(400, {"message": "event is invalid", "code": "invalid_request"})
        return Reply(202, None)

    events_api.reply = reply
    integration = add_integration(gateway_process, events_api, batch_size=8, batch_delay_seconds=5)
    event_ids = [send(gateway_process, integration, n) for n in range(8)]
    decisions = settled(gateway_process, event_ids)
    assert [d["status"] for d in decisions] == ["delivered"] * 3 + ["dead"] + ["delivered"] * 4
    assert "refused the event as invalid (400: event is invalid" in decisions[3]["reason"]
    taken = [e for r in imports(events_api) if bad not in sent_ids(r) for e in sent_ids(r)]
    assert sorted(taken) == sorted(f"{n:032x}" for n in range(8) if n != 3)  # each good event once


def test_a_retried_batch_keeps_its_payload_id(gateway_process, events_api):
    answered = []

    def reply(request):
        if request.path.split("?")[0] != IMPORT_PATH:
            return Reply(202, None)
        answered.append(request)
        return Reply(503, {"message": "unavailable"}) if len(answered) == 1 else Reply(202, None)

    events_api.reply = reply
    integration = add_integration(gateway_process, events_api, batch_size=3, batch_delay_seconds=5)
    event_ids = [send(gateway_process, integration, n) for n in range(3)]
    decisions = settled(gateway_process, event_ids)
    assert all(d["status"] == "delivered" for d in decisions)
    first, second = imports(events_api)
    assert len(sent_ids(first)) == 3 and sorted(sent_ids(first)) == sorted(sent_ids(second))
    assert first.header("X-LaunchDarkly-Payload-ID") == second.header("X-LaunchDarkly-Payload-ID")
    assert all([a["outcome"] for a in d["attempt_log"]] == ["retry", "delivered"] for d in decisions)
