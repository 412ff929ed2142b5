"""Flag actions for deliveries: ``gateway.FlagPlatform.turn_flag`` (a semantic patch through the
delivery's own HTTP client), ``DeliveryRef.flag_platform`` filled by the delivery worker (one at a
time and in batches) when the gateway is connected, the token kept out of every record, and the
fake flag platform's patches, triggers and change webhooks — which close the loop back into the
gateway over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests
from marshmallow import Schema

from gateway import (
    Batching, Delivered, Failed, FlagPlatform, IntegrationType, TransportError, hmac_sha256_hex, hookimpl,
)
from gateway.delivery import Deliverer
from gateway.kit.fake_flag_platform import SEMANTIC_PATCH_TYPE, FakeFlagPlatform
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.testing import (
    FakeService, PluginHarness, Reply, free_port, http_client, make_delivery_ref, make_event, make_flag_platform,
    parse_flag_webhook, wait_until,
)

from .conftest import AUTH, LiveServer
from .delivery_support import ALLOW_ALL, queue_event

TOKEN = "api-0123-secret-flag-token"


@pytest.fixture
def fake():
    with FakeFlagPlatform(TOKEN) as service:
        service.add_project("checkout", "Checkout", {"production": "Production", "staging": "Staging"})
        service.add_flag("checkout", "new-checkout-flow", "New checkout flow", on={"production": True})
        yield service


# FlagPlatform.turn_flag -------------------------------------------------------------------------------

def test_turn_flag_sends_a_semantic_patch_through_the_given_client(fake):
    http = http_client()
    platform = make_flag_platform(fake.url + "/", TOKEN, http=http)
    assert platform.api_url == fake.url and TOKEN not in repr(platform)
    response = platform.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                                  on=False, comment="Dynatrace problem P-1 opened")
    assert response.status_code == 200 and response.json()["environments"]["production"]["on"] is False
    [request] = fake.calls("PATCH")
    assert request.path == "/api/v2/flags/checkout/new-checkout-flow"
    assert request.header("Authorization") == TOKEN
    assert request.header("Content-Type") == SEMANTIC_PATCH_TYPE
    assert request.json() == {"environmentKey": "production", "comment": "Dynatrace problem P-1 opened",
                              "instructions": [{"kind": "turnFlagOff"}]}
    assert fake.semantic_patches == [{"project": "checkout", "flag": "new-checkout-flow", "environment": "production",
                                      "instructions": [{"kind": "turnFlagOff"}],
                                      "comment": "Dynatrace problem P-1 opened"}]
    assert fake.flag_on("checkout", "new-checkout-flow", "production") is False
    [exchange] = http.exchanges
    assert (exchange.method, exchange.status) == ("PATCH", 200)
    assert exchange.url == fake.url + "/api/v2/flags/checkout/new-checkout-flow"
    platform.turn_flag(project_key="checkout", environment_key="staging", flag_key="new-checkout-flow", on=True,
                       comment="")
    assert fake.flag_on("checkout", "new-checkout-flow", "staging") is True
    assert fake.flag_on("checkout", "new-checkout-flow", "production") is False


def test_turn_flag_quotes_the_keys_in_the_path(fake):
    fake.add_flag("my project", "a/b flag", "Odd")
    response = make_flag_platform(fake.url, TOKEN).turn_flag(
        project_key="my project", environment_key="production", flag_key="a/b flag", on=False, comment="c")
    assert response.status_code == 200
    assert fake.calls("PATCH")[0].path == "/api/v2/flags/my%20project/a%2Fb%20flag"
    assert fake.flag_on("my project", "a/b flag", "production") is False


def test_answers_are_returned_whatever_their_status_and_the_token_is_never_recorded(fake):
    http = http_client()
    wrong = FlagPlatform(http, fake.url, "api-wrong-token")
    assert wrong.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                           on=False, comment="x").status_code == 401
    platform = FlagPlatform(http, fake.url, TOKEN)
    missing = platform.turn_flag(project_key="checkout", environment_key="production", flag_key="no-such-flag",
                                 on=False, comment="x")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    unknown_env = platform.turn_flag(project_key="checkout", environment_key="qa", flag_key="new-checkout-flow",
                                     on=False, comment="x")
    assert unknown_env.status_code == 400 and "qa" in unknown_env.json()["message"]
    fake.queue(Reply(200, {"echo": TOKEN}))  # an answer that repeats the token: removed from the record
    platform.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                       on=False, comment="x")
    recorded = json.dumps([e.__dict__ for e in http.exchanges])
    assert TOKEN not in recorded and "api-wrong-token" not in recorded


def test_no_answer_raises_transport_error_and_bad_arguments_raise_value_error():
    platform = make_flag_platform(f"http://127.0.0.1:{free_port()}", TOKEN)
    with pytest.raises(TransportError):
        platform.turn_flag(project_key="p", environment_key="e", flag_key="f", on=False, comment="")
    for bad in ({"project_key": ""}, {"flag_key": None}, {"on": "false"}, {"comment": None}):
        arguments = {"project_key": "p", "environment_key": "e", "flag_key": "f", "on": False, "comment": "", **bad}
        with pytest.raises(ValueError, match="turn_flag"):
            platform.turn_flag(**arguments)


def test_a_delivery_ref_built_for_a_unit_test_carries_the_platform_or_none(fake):
    assert make_delivery_ref().flag_platform is None
    platform = make_flag_platform(fake.url, TOKEN)
    assert make_delivery_ref(flag_platform=platform).flag_platform is platform


# the fake flag platform ------------------------------------------------------------------------------

def test_the_fake_refuses_what_the_platform_refuses(fake):
    url = fake.url + "/api/v2/flags/checkout/new-checkout-flow"
    body = {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]}
    plain = requests.patch(url, json=body, headers={"Authorization": TOKEN}, timeout=5)
    assert plain.status_code == 415 and "domain-model=launchdarkly.semanticpatch" in plain.json()["message"]
    semantic = {"Authorization": TOKEN, "Content-Type": SEMANTIC_PATCH_TYPE}
    for wrong in ({"environmentKey": "production", "instructions": [{"kind": "deleteFlag"}]},
                  {"environmentKey": "production", "instructions": []},
                  {"instructions": [{"kind": "turnFlagOff"}]}):
        answer = requests.patch(url, data=json.dumps(wrong), headers=semantic, timeout=5)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_request"
    assert requests.patch(url, data="{", headers=semantic, timeout=5).status_code == 400
    assert fake.semantic_patches == [] and fake.flag_on("checkout", "new-checkout-flow", "production") is True


def test_a_trigger_url_turns_the_flag_and_records_the_call(fake):
    off = fake.add_trigger("checkout", "new-checkout-flow", "production", action="turnFlagOff")
    assert off.startswith(fake.url + "/webhook/triggers/")
    assert requests.post(off, json={"eventName": "Problem P-7 opened"}, timeout=5).status_code == 200
    assert fake.flag_on("checkout", "new-checkout-flow", "production") is False
    assert fake.trigger_calls[0]["body"] == {"eventName": "Problem P-7 opened"}
    assert fake.trigger_calls[0]["action"] == "turnFlagOff"
    on = fake.add_trigger("checkout", "new-checkout-flow", "production", action="turnFlagOn")
    assert requests.post(on, timeout=5).status_code == 200  # no body at all
    assert fake.flag_on("checkout", "new-checkout-flow", "production") is True
    assert requests.post(off[:-4] + "0000", timeout=5).status_code == 404  # a wrong token
    assert len(fake.trigger_calls) == 2
    with pytest.raises(ValueError):
        fake.add_trigger("checkout", "new-checkout-flow", "production", action="deleteFlag")


def test_changes_go_out_as_signed_flag_webhooks_when_asked(fake):
    with FakeService(Reply(202, {})) as receiver:
        fake.add_webhook(url=receiver.url + "/hook", secret="hook-secret")
        fake.add_webhook(url=receiver.url + "/off", on=False)
        platform = make_flag_platform(fake.url, TOKEN)
        platform.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                           on=False, comment="not sent: send_webhooks is off")
        fake.send_webhooks = True
        platform.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                           on=False, comment="no change: not sent")
        platform.turn_flag(project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                           on=True, comment="Problem P-9 resolved")
        [sent] = receiver.wait_for(1, "/hook")
        wait_until(lambda: fake.webhook_deliveries, message="the delivery record")
    assert receiver.received("/off") == []
    assert sent.header("X-LD-Signature") == hmac_sha256_hex("hook-secret", sent.body)
    event = parse_flag_webhook(sent.body)  # read as the gateway reads the platform's webhooks
    assert (event.project_key, event.environment_key, event.flag_key) == ("checkout", "production", "new-checkout-flow")
    assert sent.json()["comment"] == "Problem P-9 resolved"
    assert sent.json()["currentVersion"]["environments"]["production"]["on"] is True
    assert fake.webhook_deliveries[0]["status"] == 202


# the delivery worker fills DeliveryRef.flag_platform -------------------------------------------------

class Switcher:
    """Turns the event's flag off in production through ``delivery.flag_platform``."""

    def __init__(self) -> None:
        self.platforms: list = []

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="switcher", name="Switcher", description="turns flags off",
                               config_schema=Schema, default_policy=ALLOW_ALL, sources=("launchdarkly", "unit"))

    @hookimpl
    def deliver_event(self, event, delivery):
        self.platforms.append(delivery.flag_platform)
        return turn_off(delivery, f"delivery {delivery.id}")


class BatchSwitcher(Switcher):
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="batch-switcher", name="Batch switcher", description="turns flags off in batches",
                               config_schema=Schema, default_policy=ALLOW_ALL, sources=("unit",))

    @hookimpl
    def batch_limits(self):
        return Batching(max_size=10, max_delay=0.0)

    @hookimpl
    def deliver_batch(self, items):
        self.platforms.extend(item.delivery.flag_platform for item in items)
        return {item.delivery.id: turn_off(item.delivery, f"batch delivery {item.delivery.id}") for item in items}


def turn_off(delivery, comment: str):
    if delivery.flag_platform is None:
        return Failed("the gateway is not connected to the flag platform")
    response = delivery.flag_platform.turn_flag(project_key="checkout", environment_key="production",
                                                flag_key="new-checkout-flow", on=False, comment=comment)
    return Delivered(f"flag turned off ({response.status_code})") if response.ok else Failed(
        f"the flag platform answered {response.status_code}")


@pytest.fixture
def switcher():
    return Switcher()


@pytest.fixture
def batch_switcher():
    return BatchSwitcher()


@pytest.fixture
def sapp(make_app, switcher, batch_switcher):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"},
                    plugins=(("switcher", switcher), ("batch-switcher", batch_switcher)))


def connect(state, fake, public_url: str = "http://127.0.0.1:9", wire: bool = False) -> None:
    state.connection.connect({"api_url": fake.url, "api_token": TOKEN, "public_url": public_url, "wire": wire})


def attempt_one(state):
    delivery = state.db.deliveries.claim("w1", 30, now())
    return Deliverer(state, "w1").attempt(delivery)


def test_without_a_connection_a_delivery_gets_no_flag_platform(sapp, switcher):
    state = get_state(sapp)
    row = state.integrations.create({"plugin": "switcher", "name": "s", "config": {}})
    queue_event(state, row.id, "u-1")
    report = attempt_one(state)
    assert switcher.platforms == [None]
    assert (report.status, report.reason) == ("dead", "the gateway is not connected to the flag platform")


def test_a_connected_gateway_hands_each_delivery_the_platform_and_records_the_call(sapp, switcher, fake):
    state = get_state(sapp)
    connect(state, fake)
    row = state.integrations.create({"plugin": "switcher", "name": "s", "config": {}})
    _, delivery_id = queue_event(state, row.id, "u-2")
    report = attempt_one(state)
    assert report.status == "delivered" and report.summary == "flag turned off (200)"
    [platform] = switcher.platforms
    assert isinstance(platform, FlagPlatform) and platform.api_url == fake.url
    assert fake.semantic_patches[0]["comment"] == f"delivery {delivery_id}"
    [entry] = state.db.deliveries.get(delivery_id).attempt_log
    [exchange] = entry.http
    assert (exchange["method"], exchange["status"]) == ("PATCH", 200)
    assert exchange["url"].endswith("/api/v2/flags/checkout/new-checkout-flow")
    client = sapp.test_client()
    shown = client.get(f"/api/v1/deliveries/{delivery_id}", headers=AUTH).get_data(as_text=True)
    assert "PATCH" in shown and TOKEN not in shown


def test_the_token_is_removed_from_attempt_logs_reasons_and_logs(sapp, switcher, fake, caplog):
    state = get_state(sapp)
    connect(state, fake)
    row = state.integrations.create({"plugin": "switcher", "name": "s", "config": {}})
    _, delivery_id = queue_event(state, row.id, "u-3")
    fake.queue(Reply(400, {"code": "invalid_request", "message": f"bad token {TOKEN}"}))
    report = attempt_one(state)
    assert report.status == "dead"
    delivery = state.db.deliveries.get(delivery_id)
    recorded = json.dumps([entry.http for entry in delivery.attempt_log]) + delivery.reason
    assert "bad token" in recorded and TOKEN not in recorded
    assert TOKEN not in caplog.text


def test_each_delivery_of_a_batch_gets_the_platform(sapp, batch_switcher, fake):
    from .test_delivery_batch import run_batch

    state = get_state(sapp)
    connect(state, fake)
    row = state.integrations.create({"plugin": "batch-switcher", "name": "b", "config": {}})
    ids = [queue_event(state, row.id, f"b-{n}")[1] for n in range(3)]
    [reports] = run_batch(state)
    assert {r.status for r in reports} == {"delivered"} and len(batch_switcher.platforms) == 3
    assert all(isinstance(p, FlagPlatform) for p in batch_switcher.platforms)
    assert len(fake.semantic_patches) == 3
    for delivery_id in ids:  # each delivery's log holds the calls of the batch (none named its deliveries)
        [entry] = state.db.deliveries.get(delivery_id).attempt_log
        assert [e["method"] for e in entry.http] == ["PATCH"] * 3


def test_the_harness_delivers_with_a_connected_platform(fake):
    with PluginHarness(Switcher(), name="switcher", config={}) as harness:
        assert harness.deliver(make_event()).status == "dead"  # not connected yet
        harness.connect_flag_platform(fake.url, TOKEN)
        attempt = harness.deliver(make_event())
    assert attempt.status == "delivered" and TOKEN not in attempt.recorded_text()
    assert fake.flag_on("checkout", "new-checkout-flow", "production") is False


def test_the_change_comes_back_to_the_gateway_as_a_signed_flag_event(sapp, fake):
    """The loop, over real HTTP: a delivery turns the flag off on the fake; the fake sends the flag
    change to the webhook the gateway wired on it, signed with the gateway's secret; the gateway
    stores it as a flag event carrying the comment."""
    state = get_state(sapp)
    live = LiveServer(sapp)
    try:
        connect(state, fake, public_url=live.url, wire=True)
        [webhook] = fake.webhooks.values()
        assert webhook["url"] == live.url + "/webhooks/launchdarkly" and webhook["secret"]
        fake.send_webhooks = True
        row = state.integrations.create({"plugin": "switcher", "name": "s", "config": {}})
        state.integrations.update(row, {"enabled": False})  # it would act on its own flag event again
        row = state.integrations.create({"plugin": "switcher", "name": "s2", "config": {}})
        _, delivery_id = queue_event(state, row.id, "loop-1")
        assert attempt_one(state).status == "delivered"

        def came_back():
            events = requests.get(live.url + "/api/v1/events?source=launchdarkly", headers=AUTH, timeout=5).json()
            return events["items"]

        [event] = wait_until(came_back, message="the flag change webhook")
        # the fake records the answer after the gateway has stored the event and answered
        wait_until(lambda: fake.webhook_deliveries, message="the delivery record")
        assert fake.webhook_deliveries[0]["status"] == 202
        detail = requests.get(f"{live.url}/api/v1/events/{event['id']}", headers=AUTH, timeout=5).json()
        assert f"delivery {delivery_id}" in json.dumps(detail)
    finally:
        live.close()
