"""The v2 and v1 request bodies, their properties and limits."""

from __future__ import annotations

import dataclasses
import json

import pytest
from gateway import Access, Member

from gateway_dynatrace.limits import char_count, truncate
from gateway_dynatrace.payload import PayloadTooLarge, encode, event_properties, plain_title, v1_body, v2_body
from gateway_dynatrace.schema import Settings

TOKEN = "dt0c01.SAMPLETOKENID.SAMPLESECRETPART"
SELECTOR = 'type(APPLICATION),tag("checkout-service","web-frontend")'

PRODUCTION_PROPERTIES = {
    "Flag name": "New checkout flow",
    "Flag key": "new-checkout-flow",
    "Project key": "checkout",
    "Environment key": "production",
    "Comment": "Rolling out to everyone after the canary",
    "User name": "Ada Lovelace",
    "User email": "ada@example.com",
    "Action": "updateOn",
    "Flag link": "https://app.launchdarkly.com/checkout/production/features/new-checkout-flow",
    "Change description": "- Turned on the flag",
}


@pytest.fixture
def settings() -> Settings:
    return Settings(api_token=TOKEN, url="https://abc12345.live.dynatrace.com")


def test_v2_body(production_event, settings):
    assert v2_body(production_event, settings, SELECTOR) == {
        "eventType": "CUSTOM_CONFIGURATION",
        "title": "Ada Lovelace turned on the flag New checkout flow in Production",
        "startTime": 1700917929000,
        "entitySelector": SELECTOR,
        "properties": PRODUCTION_PROPERTIES,
    }


def test_v2_body_uses_the_configured_event_type(production_event, settings):
    body = v2_body(production_event, dataclasses.replace(settings, event_type="CUSTOM_DEPLOYMENT"), SELECTOR)
    assert body["eventType"] == "CUSTOM_DEPLOYMENT"


def test_v1_body(production_event, settings):
    settings = dataclasses.replace(settings, api_version="v1", entity_type="SERVICE")
    assert v1_body(production_event, settings, ["checkout-service", "team:web"]) == {
        "eventType": "CUSTOM_CONFIGURATION",
        "attachRules": {
            "tagRule": [
                {
                    "meTypes": ["SERVICE"],
                    "tags": [
                        {"context": "CONTEXTLESS", "key": "checkout-service"},
                        {"context": "CONTEXTLESS", "key": "team", "value": "web"},
                    ],
                }
            ]
        },
        "source": "LaunchDarkly",
        "description": "Ada Lovelace turned on the flag New checkout flow in Production",
        "configuration": 'Feature flag "New checkout flow"',
        "customProperties": PRODUCTION_PROPERTIES,
        "start": 1700917929000,
    }


def test_v1_source_names_other_sources(production_event, settings):
    event = dataclasses.replace(production_event, source="test")
    assert v1_body(event, settings, ["t"])["source"] == "Flag Event Gateway (test)"


@pytest.mark.parametrize(
    ("title", "plain"),
    [
        (
            "Ada Lovelace turned on the flag New checkout flow in `Production`",
            "Ada Lovelace turned on the flag New checkout flow in Production",
        ),
        ("  spaced\n  out  title ", "spaced out title"),
    ],
)
def test_title_is_plain_text(production_event, title, plain):
    assert plain_title(dataclasses.replace(production_event, title=title)) == plain


def test_title_falls_back_to_the_flag(production_event):
    assert (
        plain_title(dataclasses.replace(production_event, title=""))
        == "Feature flag New checkout flow changed"
    )
    event = dataclasses.replace(production_event, title="", name=None)
    assert plain_title(event) == "Feature flag new-checkout-flow changed"


def test_empty_properties_are_left_out(staging_event):
    event = dataclasses.replace(staging_event, member=None, comment="  ", target_url=None)
    assert event_properties(event) == {
        "Flag name": "New checkout flow",
        "Flag key": "new-checkout-flow",
        "Project key": "checkout",
        "Environment key": "staging",
        "Action": "updateRules",
        "Change description": "- Added rule 2: serve `true` when `country` is one of `NZ`, `AU`",
    }


def test_user_name_falls_back_to_the_email(production_event):
    event = dataclasses.replace(production_event, member=Member(email="bot@example.com"))
    properties = event_properties(event)
    assert properties["User name"] == "bot@example.com"
    assert properties["User email"] == "bot@example.com"


def test_actions_are_listed_once_each(production_event):
    resource = "proj/checkout:env/production:flag/new-checkout-flow"
    event = dataclasses.replace(
        production_event,
        accesses=[
            Access("updateOn", resource),
            Access("updateRules", resource),
            Access("updateOn", resource),
        ],
    )
    assert event_properties(event)["Action"] == "updateOn, updateRules"


def test_the_gateway_event_id_is_a_property_when_known(production_event):
    event = dataclasses.replace(production_event, id="evt_42")
    assert event_properties(event)["Event Gateway event id"] == "evt_42"


def test_property_values_are_cut_to_4096_characters(production_event):
    event = dataclasses.replace(production_event, description="d" * 5000, comment="😀" * 3000)
    properties = event_properties(event)
    assert properties["Change description"] == "d" * 4095 + "…"
    assert char_count(properties["Comment"]) <= 4096
    assert properties["Comment"].endswith("…")
    assert all(char_count(value) <= 4096 for value in properties.values())


def test_properties_stay_within_dynatrace_limits(production_event):
    event = dataclasses.replace(production_event, id="evt_1")
    properties = event_properties(event)
    assert len(properties) <= 100
    assert all(len(key) <= 100 and not key.startswith("dt.") for key in properties)
    assert all(isinstance(value, str) for value in properties.values())


@pytest.mark.parametrize(
    ("text", "limit", "cut"), [("abc", 3, "abc"), ("abcd", 3, "ab…"), ("a😀b", 3, "a…"), ("a😀", 3, "a😀")]
)
def test_truncate(text, limit, cut):
    assert truncate(text, limit) == cut


def test_encode_is_compact_ascii_json():
    data = encode({"title": "Zürich", "n": 1})
    assert data == b'{"title":"Z\\u00fcrich","n":1}'
    assert json.loads(data) == {"title": "Zürich", "n": 1}


def test_encode_refuses_more_than_a_megabyte(production_event, settings):
    body = v2_body(dataclasses.replace(production_event, title="t" * 1_000_000), settings, SELECTOR)
    with pytest.raises(PayloadTooLarge) as caught:
        encode(body)
    assert "over the 1,000,000 bytes Dynatrace accepts in one request" in str(caught.value)


def test_names_from_the_connection_are_sent_in_the_hosted_integrations_order(production_event):
    named = dataclasses.replace(production_event, project_name="Checkout", environment_name="Production")
    properties = event_properties(named)
    assert properties["Project name"] == "Checkout" and properties["Environment name"] == "Production"
    assert list(properties)[:6] == ["Flag name", "Flag key", "Project key", "Project name", "Environment key",
                                    "Environment name"]


def test_without_names_the_name_properties_are_left_out(production_event):
    unnamed = dataclasses.replace(production_event, names_unavailable="no flag-platform connection")
    assert "Project name" not in event_properties(unnamed) and "Environment name" not in event_properties(unnamed)


def test_a_change_made_for_a_dynatrace_problem_names_the_problem(production_event):
    comment = ("Flag Event Gateway: Dynatrace problem P-230412 'High failure rate' (OPEN) matched rule "
               "'checkout errors'")
    properties = event_properties(dataclasses.replace(production_event, comment=comment))
    assert properties["Caused by Dynatrace problem"] == "P-230412"
    assert properties["Comment"] == comment
    assert "Caused by Dynatrace problem" not in event_properties(production_event)
