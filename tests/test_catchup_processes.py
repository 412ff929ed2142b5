"""Catch-up with real gateway processes over HTTP: flag changes made while the gateway is stopped
(their webhooks fail) reach a fake Dynatrace with their original times once it starts, and the late
webhooks for them are duplicates; two nodes reconciling at once deliver each missed change once."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from gateway import hmac_sha256_hex
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .multi_node_support import instance, node_env, shared_database_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

LD_TOKEN = "api-catchup-e2e-token-0123"
DT_TOKEN = "dt0c01.CATCHUPTOKEN.CATCHUPSECRETCATCHUPSECRETCATCHUPSECRETCATCHUPSECRET"
INGEST = "/api/v2/events/ingest"
LOOKUP = "/api/v2/apiTokens/lookup"
ALL_FLAGS = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]
FLAGS = ("checkout-redesign", "new-pricing", "dark-mode")


@pytest.fixture
def platform():
    with FakeFlagPlatform(LD_TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production"})
        for key in FLAGS:
            fake.add_flag("checkout", key, key.title(), {"production": False})
        fake.send_webhooks = True
        yield fake


@pytest.fixture
def dynatrace():
    def reply(request):
        if request.path == LOOKUP:
            return Reply(200, {"id": "dt0c01.CATCHUPTOKEN", "name": "gateway", "enabled": True,
                               "expirationDate": None, "scopes": ["events.ingest"]})
        return Reply(201, {"reportCount": 1, "eventIngestResults": [{"correlationId": "c0ffee", "status": "OK"}]})

    with FakeService(reply) as service:
        yield service


def turn_on(platform, flag: str) -> None:
    answer = requests.patch(f"{platform.url}/api/v2/flags/checkout/{flag}", timeout=10, headers={
        "Authorization": LD_TOKEN, "Content-Type": "application/json; domain-model=launchdarkly.semanticpatch"},
        data=json.dumps({"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}]}))
    assert answer.status_code == 200, answer.text


def connect_and_add_dynatrace(process, platform, dynatrace) -> None:
    connected = process.admin("PUT", "/api/v1/connections/launchdarkly", json={
        "api_token": LD_TOKEN, "public_url": process.url, "api_url": platform.url})
    assert connected.status_code == 200, connected.text
    added = process.admin("POST", "/api/v1/integrations", json={
        "plugin": "dynatrace", "name": "Dynatrace", "policy": ALL_FLAGS,
        "config": {"url": dynatrace.url, "api_token": DT_TOKEN, "tag": "app:checkout"}})
    assert added.status_code == 201, added.text


def flag_events(dynatrace) -> list[dict]:
    return [r.json() for r in dynatrace.received(INGEST)]


def test_changes_made_while_the_gateway_is_stopped_reach_dynatrace_with_their_times(tmp_path, platform, dynatrace):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2"}
    process = GatewayProcess(str(tmp_path), env=env).start()
    try:
        connect_and_add_dynatrace(process, platform, dynatrace)
        assert process.terminate() == 0
        for flag in FLAGS:
            turn_on(platform, flag)
        wait_until(lambda: len(platform.webhook_deliveries) == 3, 15, message="the three webhooks to fail")
        assert all(d["status"] is None for d in platform.webhook_deliveries)  # nobody listening

        process.start()
        wait_until(lambda: len(flag_events(dynatrace)) >= 3, 30, interval=0.2,
                   message="the three missed changes at Dynatrace")

        entries = {e["_id"]: e for e in platform.audit_log}
        sent = flag_events(dynatrace)
        assert len(sent) == 3
        assert sorted(e["startTime"] for e in sent) == sorted(e["date"] for e in entries.values())
        [webhook] = platform.webhooks.values()
        for entry in entries.values():  # the flag platform's retry comes late: a duplicate
            body = json.dumps(entry).encode()
            late = process.post_webhook(body, headers={"X-LD-Signature": hmac_sha256_hex(webhook["secret"], body)})
            assert late.status_code == 200 and late.json()["duplicate"] is True, late.text
            shown = process.admin("GET", f"/api/v1/events/{late.json()['event_id']}").json()
            assert shown["source_id"] == entry["_id"] and shown["received_via"] == "catch-up"
        status = process.admin("GET", "/api/v1/connections/launchdarkly").json()["catch_up"]
        assert status["last_caught"] >= 1 and status["error"] is None  # in one run or two
        assert "gateway_catchup_events_total 3.0" in process.admin("GET", "/metrics").text
        assert len(flag_events(dynatrace)) == 3
        assert LD_TOKEN not in process.log()
    finally:
        process.terminate()


def test_two_nodes_reconciling_at_once_deliver_each_missed_change_once(tmp_path, platform, dynatrace,
                                                                      shared_database_url):  # noqa: F811
    platform.send_webhooks = False  # every webhook lost
    env = node_env(shared_database_url, GATEWAY_PLUGINS="dynatrace", GATEWAY_WORKERS="2",
                   GATEWAY_PROCESSES="2", GATEWAY_RETRY_SCHEDULE="0,0.2,0.2")
    first = GatewayProcess(instance(tmp_path, "a"), env=env).start()
    second = GatewayProcess(instance(tmp_path, "b"), env=env).start()
    try:
        connect_and_add_dynatrace(first, platform, dynatrace)
        for flag in FLAGS:
            turn_on(platform, flag)
        wait_until(lambda: len(platform.audit_log) == 3, 5, message="three entries in the audit log")
        answers: list[dict] = []

        def catch_up(node) -> None:
            for _ in range(5):
                answers.append(node.admin("POST", "/api/v1/connections/launchdarkly/catch-up").json())

        threads = [threading.Thread(target=catch_up, args=(node,)) for node in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        wait_until(lambda: len(flag_events(dynatrace)) >= 3, 30, interval=0.2,
                   message="the three missed changes at Dynatrace")

        def all_delivered() -> bool:
            items = first.admin("GET", "/api/v1/deliveries?limit=100").json()["items"]
            return len(items) == 3 and all(i["status"] == "delivered" for i in items)

        wait_until(all_delivered, 30, interval=0.2, message="every delivery done")
        sent = flag_events(dynatrace)
        assert len(sent) == 3
        assert sum(a.get("caught", 0) for a in answers) <= 3
        events = first.admin("GET", "/api/v1/events?limit=100").json()["items"]
        assert sorted(e["source_id"] for e in events) == sorted(e["_id"] for e in platform.audit_log)
    finally:
        first.terminate()
        second.terminate()


@pytest.fixture
def postgres():
    from .test_database_outage_processes import require
    from .throwaway_postgres import ThrowawayPostgres, availability

    require(availability(), "the catch-up database-outage test")
    cluster = ThrowawayPostgres().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def test_changes_refused_in_a_database_outage_are_caught_up_when_it_ends(tmp_path, platform, dynatrace, postgres):
    url = postgres.create_database("catchup_gateway")
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2", "GATEWAY_DATABASE_URL": url, "GATEWAY_PROCESSES": "1"}
    process = GatewayProcess(str(tmp_path), env=env).start()
    try:
        connect_and_add_dynatrace(process, platform, dynatrace)

        def caught_up_after_connecting():
            shown = process.admin("GET", "/api/v1/connections/launchdarkly").json().get("catch_up") or {}
            return shown.get("trigger") == "follow-up"

        # the runs at start and after connecting are over: the next is due in 300 s, unless the outage's end
        wait_until(caught_up_after_connecting, 15, interval=0.2, message="the catch-ups after connecting")
        postgres.stop("fast")
        for flag in FLAGS:
            turn_on(platform, flag)
        wait_until(lambda: len(platform.webhook_deliveries) == 3, 15, message="the three webhooks answered")
        assert [d["status"] for d in platform.webhook_deliveries] == [503, 503, 503]
        postgres.start()

        wait_until(lambda: len(flag_events(dynatrace)) >= 3, 30, interval=0.2,
                   message="the three refused changes at Dynatrace")
        sent = flag_events(dynatrace)
        assert sorted(e["startTime"] for e in sent) == sorted(e["date"] for e in platform.audit_log)
        assert "database available again" in process.log()
        [webhook] = platform.webhooks.values()
        for entry in platform.audit_log:
            body = json.dumps(entry).encode()
            late = process.post_webhook(body, headers={"X-LD-Signature": hmac_sha256_hex(webhook["secret"], body)})
            assert late.status_code == 200 and late.json()["duplicate"] is True, late.text
        assert len(flag_events(dynatrace)) == 3
    finally:
        process.terminate()
