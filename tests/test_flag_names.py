"""Project, environment and flag names from the flag platform's API (a fake on loopback, over real
HTTP): on the event every plugin gets, stored with the event, cached, refreshed by a project or
environment change; without a connection or with the API down, events go out without names and say why."""

from __future__ import annotations

import json

import pytest
from marshmallow import Schema
from sqlalchemy import event as sa_event

from gateway import Delivered, IntegrationType, hmac_sha256_hex, hookimpl
from gateway.delivery import Deliverer
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.host.state import get_state
from gateway.store.base import now

from .conftest import AUTH, ROOT, fixture_bytes, fixture_json

TOKEN = "api-names-token-0123456789"
ALLOW_ALL = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]


class Named:
    """Keeps every event it is asked to deliver."""

    def __init__(self):
        self.events = []
        self.during = None  # called with each event while it is delivered

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="named", name="Named", description="keeps events", config_schema=Schema,
                               default_policy=ALLOW_ALL)

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        self.events.append(event)
        if self.during is not None:
            self.during(event)
        return Delivered("kept")


@pytest.fixture
def named():
    return Named()


@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production", "staging": "Staging", "test": "Testing"})
        fake.add_flag("checkout", "new-checkout-flow", "New checkout flow (from the API)")
        yield fake


@pytest.fixture
def app(make_app, named):
    app = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=(("named", named),))
    app.test_client().post("/api/v1/integrations", json={"plugin": "named", "name": "n", "config": {}}, headers=AUTH)
    return app


def connect(client, platform):
    answer = client.put("/api/v1/connections/launchdarkly", headers=AUTH, json={
        "api_token": TOKEN, "public_url": "https://gw.example.com", "api_url": platform.url})
    assert answer.status_code == 200, answer.get_json()
    [webhook] = platform.webhooks.values()
    return webhook["secret"]


def post(client, body: bytes, secret: str | None = None) -> str:
    headers = {"X-LD-Signature": hmac_sha256_hex(secret, body)} if secret else {}
    answer = client.post("/webhooks/launchdarkly", data=body, content_type="application/json", headers=headers)
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["event_id"]


def deliver_all(app) -> None:
    state = get_state(app)
    while (delivery := state.db.deliveries.claim("w1", 30, now())) is not None:
        assert Deliverer(state, "w1").attempt(delivery).status == "delivered"


def stored_event(client, event_id: str) -> dict:
    return client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["event"]


def test_names_reach_the_plugin_and_are_stored_with_the_event(app, client, named, platform):
    secret = connect(client, platform)
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    [event] = named.events
    assert (event.project_name, event.environment_name, event.names_unavailable) == ("Checkout", "Production", None)
    assert event.name == "New checkout flow"  # the payload's own flag name wins
    [read] = platform.calls("GET", "/api/v2/projects/checkout")
    assert "expand=environments" in read.path and read.header("Authorization") == TOKEN
    stored = stored_event(client, event_id)
    assert stored["project_name"] == "Checkout" and stored["environment_name"] == "Production"


def test_names_are_stored_after_the_delivery_not_in_its_way(app, client, named, platform):
    secret = connect(client, platform)
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    stored_during = []
    named.during = lambda event: stored_during.append(stored_event(client, event_id).get("project_name"))
    deliver_all(app)
    assert named.events[0].project_name == "Checkout" and stored_during == [None]
    assert stored_event(client, event_id)["project_name"] == "Checkout"


def test_names_are_cached(app, client, named, platform):
    secret = connect(client, platform)
    post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    post(client, fixture_bytes("launchdarkly/flag-rules-updated-staging.json"), secret)
    deliver_all(app)
    assert sorted(e.environment_name for e in named.events) == ["Production", "Staging"]
    assert len(platform.calls("GET", "/api/v2/projects/")) == 1


def test_an_environment_change_refreshes_the_names(app, client, named, platform):
    secret = connect(client, platform)
    post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    platform.projects["checkout"]["environments"][0]["name"] = "Prod (EU)"
    post(client, fixture_bytes("launchdarkly/environment-renamed.json"), secret)
    body = fixture_json("launchdarkly/flag-turned-on-production.json")
    body["_id"] = "another-change-0001"
    post(client, json.dumps(body).encode(), secret)
    deliver_all(app)
    assert [e.environment_name for e in named.events] == ["Production", "Prod (EU)"]


def test_a_flag_name_missing_from_the_payload_comes_from_the_api(app, client, named, platform):
    secret = connect(client, platform)
    body = fixture_json("launchdarkly/flag-turned-on-production.json")
    del body["name"]
    post(client, json.dumps(body).encode(), secret)
    deliver_all(app)
    assert named.events[0].name == "New checkout flow (from the API)"


def test_with_the_api_down_events_go_out_without_names_and_say_why(app, client, named, platform):
    secret = connect(client, platform)
    platform.down = True
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    [event] = named.events
    assert event.project_name is None and event.environment_name is None
    assert "did not give the names" in event.names_unavailable and "503" in event.names_unavailable
    stored = stored_event(client, event_id)
    assert stored["names_unavailable"] == event.names_unavailable
    [decision] = client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]
    assert decision["status"] == "delivered"


def test_without_a_connection_events_go_out_without_names_and_say_why(app, client, named):
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"))
    deliver_all(app)
    assert named.events[0].project_name is None
    assert stored_event(client, event_id)["names_unavailable"].startswith("no flag-platform connection")


def test_without_a_connection_the_event_says_so_from_its_arrival_and_its_delivery_writes_nothing(app, client,
                                                                                                   named):
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"))
    arrived = stored_event(client, event_id)
    assert arrived["names_unavailable"].startswith("no flag-platform connection")
    assert arrived["environment_name"] is None and arrived["project_name"] is None
    updates = []
    engine = get_state(app).db.engine

    def listen(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("UPDATE EVENTS"):
            updates.append(statement)

    sa_event.listen(engine, "before_cursor_execute", listen)
    try:
        deliver_all(app)
    finally:
        sa_event.remove(engine, "before_cursor_execute", listen)
    assert named.events[0].names_unavailable == arrived["names_unavailable"] and updates == []
    assert stored_event(client, event_id) == arrived


def test_a_connection_made_after_the_event_arrived_still_gets_it_the_apis_names(app, client, named, platform):
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"))
    assert stored_event(client, event_id)["names_unavailable"].startswith("no flag-platform connection")
    connect(client, platform)
    deliver_all(app)
    assert (named.events[0].project_name, named.events[0].names_unavailable) == ("Checkout", None)
    stored = stored_event(client, event_id)
    assert (stored["project_name"], stored["environment_name"], stored["names_unavailable"]) == \
        ("Checkout", "Production", None)


def test_an_unknown_project_is_said(app, client, named, platform):
    secret = connect(client, platform)
    platform.projects.clear()
    post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    assert named.events[0].names_unavailable == ("the flag platform has no project checkout; the webhook names "
                                                  "no environment production")


def test_the_api_token_stays_out_of_the_attempt_record(app, client, named, platform):
    secret = connect(client, platform)
    event_id = post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    detail = json.dumps(client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json())
    assert TOKEN not in detail and secret not in detail


def test_a_project_with_45_environments_has_every_name(app, client, named, platform):
    """The flag platform pages a project's environments at 20: the name of the 45th is read too."""
    many = {f"env-{n:02d}": f"Environment {n}" for n in range(1, 45)}
    platform.add_project("checkout", "Checkout", {**many, "production": "Production"})
    secret = connect(client, platform)
    post(client, fixture_bytes("launchdarkly/flag-turned-on-production.json"), secret)
    deliver_all(app)
    [event] = named.events
    assert (event.project_name, event.environment_name, event.names_unavailable) == ("Checkout", "Production", None)
    pages = [r.path for r in platform.received() if r.path.startswith("/api/v2/projects/checkout")]
    assert pages == ["/api/v2/projects/checkout?expand=environments",
                     "/api/v2/projects/checkout/environments?limit=20&offset=20",
                     "/api/v2/projects/checkout/environments?limit=20&offset=40"]


def test_without_a_connection_the_environment_names_come_from_the_webhook(app, client, named):
    body = (ROOT / "tests" / "data" / "launchdarkly" / "flag-created-test-and-production.json").read_bytes()
    post(client, body)
    deliver_all(app)
    [event] = named.events
    assert event.environments == ["test", "production"]
    assert event.environment_names == {"test": "Test", "production": "Production"}
    assert (event.environment_key, event.environment_name, event.project_name) == ("test", "Test", None)
    assert event.names_unavailable.startswith("no flag-platform connection")
    assert event.names_unavailable.endswith("the environment names are the webhook's")
