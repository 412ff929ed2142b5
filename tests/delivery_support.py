"""Plugins and helpers for the delivery tests."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from marshmallow import Schema

from gateway import Delivered, Event, IntegrationType, Secret, TargetURL, hookimpl
from gateway.events import Access
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.store.events import NewDecision

from .conftest import FIXTURES

ALLOW_ALL = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]
FAST_SCHEDULE = "0,0.2,0.5,1,1"


class CourierConfig(Schema):
    url = TargetURL(required=True)
    token = Secret(load_default=None)


class Courier:
    """POSTs the event to its URL with the core's client (the token in a header and the query) and
    answers as a careful plugin does: 2xx delivered, 429/5xx retry (honouring Retry-After), else failed."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="courier", name="Courier", description="posts events",
                               config_schema=CourierConfig, default_policy=ALLOW_ALL,
                               sources=("launchdarkly", "unit"))

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        from gateway import Failed, RetryLater

        params = {"token": config["token"]} if config.get("token") else None
        response = http.post(config["url"], json={"source_id": event.source_id, "delivery": delivery.id,
                                                   "attempt": delivery.attempt},
                             headers={"Authorization": f"Bearer {config.get('token') or ''}"}, params=params)
        if response.ok:
            return Delivered(f"accepted with {response.status_code}", {"status": response.status_code})
        if response.is_retryable:
            return RetryLater(f"target answered {response.status_code}", after=response.retry_after)
        return Failed(f"target answered {response.status_code}: {response.text[:100]}")

    @hookimpl
    def test_event(self, config, integration):
        return Event(source="courier", source_id="sample", kind="flag", occurred_at=datetime.now(timezone.utc),
                     title=f"[Test] sample event for {integration.name}",
                     accesses=[Access("updateOn", "proj/p:env/e:flag/f")])


class ScriptedConfig(Schema):
    password = Secret(load_default=None)


class Scripted:
    """``deliver_event`` answers from :attr:`script` in order (then Delivered): a result to return,
    an exception to raise, or a function of the call to run. Every call is kept in :attr:`calls`."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="scripted", name="Scripted", description="answers as told",
                               config_schema=ScriptedConfig, default_policy=ALLOW_ALL,
                               sources=("launchdarkly", "unit"))

    @hookimpl
    def deliver_event(self, event, config, http, delivery):
        with self._lock:
            call = {"source_id": event.source_id, "delivery": delivery, "config": config, "http": http}
            self.calls.append(call)
            step = self.script.pop(0) if self.script else Delivered("ok")
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(call)
        return step


def delivery_plugins(scripted: Scripted) -> tuple[tuple[str, Any], ...]:
    return (("courier", Courier()), ("scripted", scripted))


def queue_event(state, integration_id: str, source_id: str, *, due: float | None = None,
                status: str = "pending") -> tuple[str, str]:
    """Store an event with one delivery for the integration (due now unless told); returns
    (event_id, delivery_id)."""
    event_id, [delivery_id] = queue_event_for(state, [integration_id], source_id, due=due, status=status)
    return event_id, delivery_id


def queue_event_for(state, integration_ids: list[str], source_id: str, *, due: float | None = None,
                    status: str = "pending") -> tuple[str, list[str]]:
    """Store an event with a delivery for each of the integrations, in one transaction (due now
    unless told); returns (event_id, the delivery ids in the order of ``integration_ids``)."""
    event = Event(source="unit", source_id=source_id, kind="flag", occurred_at=datetime.now(timezone.utc),
                  title=f"event {source_id}")
    recorded = state.db.events.record(event, [NewDecision(
        integration_id, state.db.integrations.get(integration_id).plugin, status, "queued by the test",
        next_attempt_at=(now() if due is None else due) if status == "pending" else None)
        for integration_id in integration_ids])
    by_integration = {d.integration_id: d.id for d in state.db.deliveries.for_event(recorded.event_id)}
    return recorded.event_id, [by_integration[i] for i in integration_ids]


def ld_entry(source_id: str) -> bytes:
    """A flag-platform webhook body (the production flag-on fixture) with its own id."""
    body = json.loads((FIXTURES / "launchdarkly" / "flag-turned-on-production.json").read_bytes())
    body["_id"] = source_id
    return json.dumps(body).encode()


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def delivery_app(make_app, scripted):
    """An app with the Courier and Scripted plugins, a fast retry schedule, private targets allowed."""
    return make_app({"GATEWAY_RETRY_SCHEDULE": FAST_SCHEDULE, "GATEWAY_ALLOW_PRIVATE_TARGETS": "1",
                     "GATEWAY_LEASE_SECONDS": "30"}, plugins=delivery_plugins(scripted))


@pytest.fixture
def dstate(delivery_app):
    return get_state(delivery_app)


@pytest.fixture
def dclient(delivery_app):
    return delivery_app.test_client()


def add(state, plugin: str = "scripted", config: dict | None = None, enabled: bool = True, name: str | None = None):
    """Create an integration directly through the service; returns its row."""
    return state.integrations.create({"plugin": plugin, "name": name or plugin, "enabled": enabled,
                                      "config": config or {}})


def claim_until_empty(database_url: str, worker_id: str, start, results, limit: int = 10_000) -> None:
    """Claim deliveries until none is left (at most ``limit``), beginning when every process passed
    the ``start`` barrier and pausing a moment after each claim as an attempt would; put the claimed
    ids on ``results``. Runs in a child process in the claim-atomicity test."""
    from gateway.store import Database

    db = Database(database_url)
    db.ping()
    start.wait(60)
    claimed = []
    for _ in range(limit):
        row = db.deliveries.claim(worker_id, 60, now())
        if row is None:
            break
        claimed.append(row.id)
        time.sleep(0.002)
    db.dispose()
    results.put((worker_id, claimed))
