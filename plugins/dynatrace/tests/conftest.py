"""Shared test material: the shared fixtures, flag events equivalent to them, a config and an HTTP client."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from gateway import Access, CustomProperty, Event, HttpClient, IntegrationRef, Member
from gateway.testing import FakeService, Reply

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
TOKEN = "dt0c01.SAMPLETOKENID.SAMPLESECRETPARTSAMPLESECRETPARTSAMPLESECRETPART"
BASE_URL = "https://abc12345.live.dynatrace.com"

ADA = {
    "id": "5d1c3e7a9b2f4a0098765432",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
}
GRACE = {
    "id": "5d1c3e7a9b2f4a0011111111",
    "email": "grace@example.com",
    "first_name": "Grace",
    "last_name": "Hopper",
}


def _flag_event(payload_name: str, **fields: Any) -> Event:
    """An event as the core's normalizer makes it from ``launchdarkly/<payload_name>.json``."""
    raw = json.loads((FIXTURES / "launchdarkly" / f"{payload_name}.json").read_text())
    member = fields.pop("member")
    fields.setdefault("environments", [fields["environment_key"]])
    return Event(
        source="launchdarkly",
        source_id=raw["_id"],
        kind=raw["kind"],
        occurred_at=datetime.fromtimestamp(raw["date"] / 1000, timezone.utc),
        accesses=[Access(a["action"], a["resource"]) for a in raw["accesses"]],
        name=raw["name"],
        title_verb=raw["titleVerb"],
        description=raw["description"],
        comment=raw.get("comment"),
        member=Member(**member),
        raw=raw,
        **fields,
    )


def flag_turned_on_production() -> Event:
    """``flag-turned-on-production.json``: tags checkout-service and web-frontend, with a comment."""
    return _flag_event(
        "flag-turned-on-production",
        title="Ada Lovelace turned on the flag New checkout flow in Production",
        project_key="checkout",
        environment_key="production",
        flag_key="new-checkout-flow",
        member=ADA,
        target_url="https://app.launchdarkly.com/checkout/production/features/new-checkout-flow",
        flag_tags=["frontend"],
        custom_properties={
            "dynatrace": CustomProperty("Dynatrace tags", ("checkout-service", "web-frontend"))
        },
    )


def flag_rules_updated_staging() -> Event:
    """``flag-rules-updated-staging.json``: tag checkout-service, no comment."""
    return _flag_event(
        "flag-rules-updated-staging",
        title="Ada Lovelace updated the targeting rules of the flag New checkout flow in Staging",
        project_key="checkout",
        environment_key="staging",
        flag_key="new-checkout-flow",
        member=ADA,
        target_url="https://app.launchdarkly.com/checkout/staging/features/new-checkout-flow",
        flag_tags=["frontend"],
        custom_properties={"dynatrace": CustomProperty("Dynatrace tags", ("checkout-service",))},
    )


def flag_without_custom_properties() -> Event:
    """``flag-without-custom-properties.json``: no Dynatrace tags at all."""
    return _flag_event(
        "flag-without-custom-properties",
        title="Grace Hopper changed the default rule of the flag Price experiment in Production",
        project_key="checkout",
        environment_key="production",
        flag_key="price-experiment",
        member=GRACE,
        target_url="https://app.launchdarkly.com/checkout/production/features/price-experiment",
    )


def environment_renamed() -> Event:
    """``environment-renamed.json``: not a flag change."""
    raw = json.loads((FIXTURES / "launchdarkly" / "environment-renamed.json").read_text())
    return Event(
        source="launchdarkly",
        source_id=raw["_id"],
        kind="environment",
        occurred_at=datetime.fromtimestamp(raw["date"] / 1000, timezone.utc),
        title="Ariel Flores changed the name of Testing",
        accesses=[Access("updateName", "proj/checkout:env/test")],
        project_key="checkout",
        environment_key="test",
        name="Testing",
        raw=raw,
    )


FLAG_EVENTS: dict[str, Callable[[], Event]] = {
    "flag-turned-on-production": flag_turned_on_production,
    "flag-rules-updated-staging": flag_rules_updated_staging,
    "flag-without-custom-properties": flag_without_custom_properties,
}


@pytest.fixture
def flag_event_builders() -> dict[str, Callable[[], Event]]:
    """The builders of the flag events, by the name of the payload they stand for."""
    return dict(FLAG_EVENTS)


@pytest.fixture
def production_event() -> Event:
    return flag_turned_on_production()


@pytest.fixture
def staging_event() -> Event:
    return flag_rules_updated_staging()


@pytest.fixture
def untagged_event() -> Event:
    return flag_without_custom_properties()


@pytest.fixture
def environment_event() -> Event:
    return environment_renamed()


@pytest.fixture
def with_tags() -> Callable[..., Event]:
    """Make the production event with other Dynatrace tags: ``with_tags("a", "b")``."""

    def make(*tags: str, key: str = "dynatrace") -> Event:
        props = {key: CustomProperty("Dynatrace tags", tuple(tags))}
        return dataclasses.replace(flag_turned_on_production(), custom_properties=props)

    return make


@pytest.fixture
def config() -> dict[str, Any]:
    """A v2 config as the gateway hands it to the hooks (validated, defaults filled, secret decrypted)."""
    return {
        "api_token": TOKEN,
        "url": BASE_URL,
        "entity_type": "APPLICATION",
        "tag": None,
        "api_version": "v2",
        "event_type": "CUSTOM_CONFIGURATION",
    }


@pytest.fixture
def v1_config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "api_version": "v1"}


@pytest.fixture
def http() -> HttpClient:
    """The core's HTTP client over a plain session (requests-mock patches the transport)."""
    return HttpClient(requests.Session(), allow_private=True)


@pytest.fixture
def integration() -> IntegrationRef:
    return IntegrationRef(id="int_0123456789", name="Checkout Dynatrace", plugin="dynatrace")


@pytest.fixture
def answer() -> Callable[[str], str]:
    """The body of a shared Dynatrace fixture: ``answer("ingest-201-ok")``."""

    def read(name: str) -> str:
        return (FIXTURES / "dynatrace" / f"{name}.json").read_text()

    return read


@pytest.fixture
def triggers():
    """A local stand-in for flag triggers: it answers every call 200 and records it."""
    with FakeService(Reply(200, {"ok": True})) as service:
        yield service
