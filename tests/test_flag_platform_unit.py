"""Unit tests (requests-mock) of the flag-platform client, the webhook wiring and the name cache."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
import requests

from gateway import Event, HttpClient
from gateway.flagplatform.client import FlagApiError, FlagPlatformClient, environments_of
from gateway.flagplatform.connection import Connection
from gateway.flagplatform.names import NameResolver
from gateway.flagplatform.wiring import Desired, operations, wire

API = "https://app.launchdarkly.com"
TOKEN = "api-unit-token-0123456789"
DESIRED = Desired(url="https://gw.example.com/webhooks/launchdarkly", secret="s" * 43, name="Flag Event Gateway",
                  tags=("event-gateway",), statements=None)


@pytest.fixture
def client():
    return FlagPlatformClient(HttpClient(requests.Session(), allow_private=True), API, TOKEN)


def test_the_token_is_the_authorization_value(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/webhooks", json={"items": []})
    assert client.list_webhooks() == []
    assert requests_mock.last_request.headers["Authorization"] == TOKEN


@pytest.mark.parametrize("status, words, retryable", [
    (401, "refused the API token (401: Invalid access token (unauthorized))", False),
    (403, "may not list webhooks (403", False),
    (429, "answered 429 to list webhooks", True),
    (503, "answered 503 to list webhooks", True),
    (400, "refused to list webhooks (400", False),
    (418, "answered 418 to list webhooks", False),
])
def test_failures_say_what_to_do(client, requests_mock, status, words, retryable):
    requests_mock.get(f"{API}/api/v2/webhooks", status_code=status,
                      json={"code": "unauthorized", "message": "Invalid access token"})
    with pytest.raises(FlagApiError) as raised:
        client.list_webhooks()
    assert words in raised.value.message and raised.value.retryable is retryable
    assert TOKEN not in raised.value.message


def test_no_answer_is_retryable(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/webhooks", exc=requests.ConnectTimeout("slow"))
    with pytest.raises(FlagApiError) as raised:
        client.list_webhooks()
    assert raised.value.retryable and raised.value.status is None


def test_an_answer_that_is_not_json_says_check_the_url(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/projects/p", text="<html>")
    with pytest.raises(FlagApiError, match="not JSON: check the API URL"):
        client.get_project("p")


def test_missing_things_are_none(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/projects/nope?expand=environments", status_code=404, json={})
    requests_mock.get(f"{API}/api/v2/webhooks/w1", status_code=404, json={})
    requests_mock.delete(f"{API}/api/v2/webhooks/w1", status_code=404, json={})
    assert client.get_project("nope") is None
    assert client.get_webhook("w1") is None
    assert client.delete_webhook("w1") is False


def test_environments_come_as_a_list_or_a_page():
    envs = [{"key": "p", "name": "P"}]
    assert environments_of({"environments": envs}) == envs
    assert environments_of({"environments": {"items": envs, "totalCount": 1}}) == envs
    assert environments_of({}) == []


def test_operations_change_only_what_differs():
    same = {"_id": "w", "url": DESIRED.url + "/", "on": True, "name": DESIRED.name, "tags": ["event-gateway"],
            "secret": DESIRED.secret, "statements": [{"x": 1}]}
    assert operations(same, DESIRED) == []  # statements not configured: left alone
    off = {**same, "on": False, "tags": ["a"], "secret": "other"}
    assert {op["path"] for op in operations(off, DESIRED)} == {"/on", "/tags", "/secret"}
    restricted = dataclasses.replace(DESIRED, statements=[])
    assert operations(same, restricted) == [{"op": "replace", "path": "/statements", "value": []}]
    hidden = {k: v for k, v in same.items() if k != "secret"}
    assert operations(hidden, DESIRED) == [{"op": "replace", "path": "/secret", "value": DESIRED.secret}]
    assert operations(hidden, DESIRED, secret_set=True) == []


def test_wire_creates_when_nothing_is_found(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/webhooks", json={"items": [{"_id": "x", "url": "https://other/"}]})
    requests_mock.post(f"{API}/api/v2/webhooks", json={"_id": "new1"})
    wired = wire(client, DESIRED, None)
    assert (wired.action, wired.webhook_id) == ("created", "new1")
    assert requests_mock.last_request.json()["sign"] is True


def test_wire_finds_by_id_first(client, requests_mock):
    requests_mock.get(f"{API}/api/v2/webhooks/w9", json={"_id": "w9", "url": "https://old.example.com/webhooks/launchdarkly",
                                                         "on": True, "name": DESIRED.name, "tags": list(DESIRED.tags),
                                                         "secret": DESIRED.secret})
    requests_mock.patch(f"{API}/api/v2/webhooks/w9", json={"_id": "w9"})
    wired = wire(client, DESIRED, "w9")
    assert wired.describe() == "updated webhook w9 (url)"
    assert requests_mock.last_request.json() == [{"op": "replace", "path": "/url", "value": DESIRED.url}]


class FakeConnections:
    """Stands in for the connection service: a connection and a client of the mocked API."""

    def __init__(self, connection):
        self.connection = connection

    def current(self):
        return self.connection

    def client(self, connection, quick=False):
        from contextlib import nullcontext

        return nullcontext(FlagPlatformClient(HttpClient(requests.Session(), allow_private=True), API, TOKEN))


def _connection():
    return Connection(api_url=API, public_url="https://gw.example.com", api_token=TOKEN, webhook_secret="w" * 40,
                      previous_secret=None, webhook_name="n", webhook_tags=(), webhook_statements=None)


def _event(**fields):
    return Event(source="launchdarkly", source_id="e1", kind="flag", occurred_at=datetime.now(timezone.utc),
                 project_key="shop", environment_key="prod", flag_key="f", name="F", **fields)


def test_names_expire_after_their_time_to_live(requests_mock):
    clock = [0.0]
    project = requests_mock.get(f"{API}/api/v2/projects/shop?expand=environments",
                                json={"key": "shop", "name": "Shop", "environments": {"items": [{"key": "prod", "name": "Prod"}]}})
    resolver = NameResolver(FakeConnections(_connection()), ttl_seconds=100, clock=lambda: clock[0])
    assert resolver.resolve(_event()).project_name == "Shop"
    clock[0] = 99
    resolver.resolve(_event())
    assert project.call_count == 1
    clock[0] = 101
    resolver.resolve(_event())
    assert project.call_count == 2


def test_a_failing_api_is_not_asked_again_for_a_minute(requests_mock):
    clock = [0.0]
    project = requests_mock.get(f"{API}/api/v2/projects/shop?expand=environments", status_code=500, json={})
    resolver = NameResolver(FakeConnections(_connection()), ttl_seconds=100, clock=lambda: clock[0])
    first = resolver.resolve(_event())
    second = resolver.resolve(_event())
    assert first.names_unavailable == second.names_unavailable and "500" in first.names_unavailable
    assert project.call_count == 1
    clock[0] = 61
    resolver.resolve(_event())
    assert project.call_count == 2


def test_an_unknown_environment_is_said(requests_mock):
    requests_mock.get(f"{API}/api/v2/projects/shop?expand=environments", json={"key": "shop", "name": "Shop",
                                                                               "environments": []})
    named = NameResolver(FakeConnections(_connection()), ttl_seconds=100).resolve(_event())
    assert named.project_name == "Shop" and named.environment_name is None
    assert named.names_unavailable == ("project shop has no environment prod in the flag platform, and the "
                                       "webhook names none")


def test_events_of_other_sources_are_left_alone():
    event = dataclasses.replace(_event(), source="sentry")
    assert NameResolver(FakeConnections(None), ttl_seconds=1).resolve(event) is event


def test_the_previous_secret_is_accepted_only_until_its_time():
    connection = dataclasses.replace(_connection(), previous_secret="old" * 10,
                                     state={"previous_secret_until": 100.0, "secret_set_on": "w1"})
    assert connection.signing_secrets(99.9) == ["w" * 40, "old" * 10]
    assert connection.signing_secrets(100.0) == ["w" * 40]


def test_no_secret_is_required_before_one_is_set_on_a_webhook():
    assert _connection().signing_secrets(0.0) == []
