"""Audit-log entries as normalized events."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway import Event, Rejected
from gateway.host.builtin.launchdarkly import normalize_audit_entry, parse_resource
from gateway.host.builtin.markdown import MAX_CHARS, markdown_to_text

from .conftest import fixture_json

DATA = Path(__file__).parent / "data"
ACCESSES = [{"action": "updateOn", "resource": "proj/p:env/e:flag/f"}]


def test_flag_turned_on_in_production():
    event = normalize_audit_entry(fixture_json("launchdarkly/flag-turned-on-production.json"))
    assert (event.source, event.source_id, event.kind) == ("launchdarkly", "6561f2a9c1d4e80f3b2a7c11", "flag")
    assert event.occurred_at == datetime(2023, 11, 25, 13, 12, 9, tzinfo=timezone.utc)
    assert event.occurred_at_ms == 1700917929000
    assert [(a.action, a.resource) for a in event.accesses] == [
        ("updateOn", "proj/checkout:env/production:flag/new-checkout-flow")]
    assert (event.project_key, event.environment_key, event.flag_key) == ("checkout", "production", "new-checkout-flow")
    assert event.title == "Ada Lovelace turned on the flag New checkout flow in Production"
    assert event.name == "New checkout flow"
    assert event.comment == "Rolling out to everyone after the canary"
    assert event.member.display_name == "Ada Lovelace" and event.member.email == "ada@example.com"
    assert event.target_url == "https://app.launchdarkly.com/checkout/production/features/new-checkout-flow"
    assert event.flag_tags == ["frontend"]
    assert event.custom_property_values("dynatrace") == ["checkout-service", "web-frontend"]
    assert event.scope_tags["flag"] == ["frontend"]
    assert event.raw["_id"] == "6561f2a9c1d4e80f3b2a7c11"


def test_round_trip_through_json():
    event = normalize_audit_entry(fixture_json("launchdarkly/flag-rules-updated-staging.json"))
    again = Event.from_dict(event.to_dict())
    assert again == event


def test_environment_kind_is_accepted():
    event = normalize_audit_entry(fixture_json("launchdarkly/environment-renamed.json"))
    assert event.kind == "environment"
    assert (event.project_key, event.environment_key, event.flag_key) == ("checkout", "test", None)
    assert event.title == "Ariel Flores changed the name of Testing"
    assert event.custom_properties == {} and event.flag_tags == []


def test_custom_properties_accept_value_and_values():
    payload = fixture_json("launchdarkly/flag-without-custom-properties.json")
    payload["currentVersion"]["customProperties"] = {
        "dynatrace": {"name": "Dynatrace tags", "values": ["a", "b"]},
        "dynatrace-v2": {"name": "Dynatrace tags", "value": ["c"]},
        "single": {"name": "One", "value": "only"},
    }
    event = normalize_audit_entry(payload)
    assert event.custom_property_values("dynatrace") == ["a", "b"]
    assert event.custom_property_values("dynatrace-v2") == ["c"]
    assert event.custom_property_values("single") == ["only"]
    assert event.custom_properties["dynatrace"].name == "Dynatrace tags"


def test_an_entry_without_date_gets_the_time_of_arrival():
    before = datetime.now(timezone.utc)
    event = normalize_audit_entry({"_id": "x", "accesses": ACCESSES})
    assert event.occurred_at >= before and event.kind == "unknown"


def test_the_flag_access_gives_the_keys_when_there_are_several():
    event = normalize_audit_entry({"_id": "x", "accesses": [
        {"action": "updateName", "resource": "proj/p"},
        {"action": "updateOn", "resource": "proj/p:env/~:flag/f"}]})
    assert (event.project_key, event.environment_key, event.flag_key) == ("p", "~", "f")


@pytest.mark.parametrize("payload, message", [
    ([], "JSON object"),
    ({"accesses": []}, "missing '_id'"),
    ({"_id": 5, "accesses": []}, "missing '_id'"),
    ({"_id": "x"}, "missing 'accesses'"),
    ({"_id": "x", "accesses": [1]}, "accesses[0] must be an object"),
    ({"_id": "x", "accesses": [{"action": "", "resource": "proj/x"}]}, "accesses[0].action"),
    ({"_id": "x", "accesses": []}, "'accesses' is empty"),
    ({"_id": "x", "accesses": ACCESSES, "date": True}, "'date'"),
    ({"_id": "x", "accesses": ACCESSES, "date": 1e30}, "out of range"),
])
def test_invalid_entries_say_what_is_wrong(payload, message):
    with pytest.raises(Rejected) as caught:
        normalize_audit_entry(payload)
    assert caught.value.status == 400 and message in caught.value.message


def test_a_title_that_is_not_text_is_left_empty():
    event = normalize_audit_entry({"_id": "x", "accesses": ACCESSES, "title": {"not": "text"}, "name": 5})
    assert event.title == "" and event.name is None and event.target_url is None


def test_markdown_to_text_keeps_snake_case_and_handles_pathological_input():
    assert markdown_to_text("flag new_checkout_flow and _emphasis_ and __strong__") == \
        "flag new_checkout_flow and emphasis and strong"
    # Unclosed brackets and markers everywhere: processed in time proportional to the (capped) length.
    for text in ("[" * 1_048_576, "*" * 1_048_576, "[a](" * 300_000, "**a" * 300_000):
        assert len(markdown_to_text(text)) <= MAX_CHARS


def test_markdown_to_text():
    assert markdown_to_text("[Ada](mailto:a@b.c) turned on [Flag](https://x/y) in `Production`") == \
        "Ada turned on Flag in Production"
    assert markdown_to_text("- Changed the name from ~~Test~~ to *Testing* and **bold**") == \
        "- Changed the name from Test to Testing and bold"
    assert markdown_to_text(None) == ""


def test_parse_resource():
    assert parse_resource("proj/p;a,b:env/e:flag/f") == [("proj", "p", ["a", "b"]), ("env", "e", []), ("flag", "f", [])]
    assert parse_resource("garbage") == []


def test_a_change_in_two_environments_lists_both_with_the_webhooks_names():
    entry = json.loads((DATA / "launchdarkly" / "flag-created-test-and-production.json").read_text())
    event = normalize_audit_entry(entry)
    assert event.environments == ["test", "production"] and event.environment_key == "test"
    assert event.environment_names == {"test": "Test", "production": "Production"}
    assert event.environment_name == "Test" and not event.every_environment
    assert Event.from_dict(event.to_dict()).environment_names == event.environment_names


def test_a_change_to_every_environment_says_so():
    event = normalize_audit_entry({"_id": "x", "kind": "flag", "accesses": [
        {"action": "updateName", "resource": "proj/p:env/*:flag/f"}]})
    assert event.environments == ["*"] and event.every_environment


def _integration(statements):
    from gateway.host.integrations import ActiveIntegration
    from gateway.policy import compile_policy
    return ActiveIntegration(None, None, {}, compile_policy(statements))


def test_the_plugin_gets_the_environments_its_integrations_policy_allowed():
    from gateway.host.event_scope import for_integration
    event = normalize_audit_entry(json.loads(
        (DATA / "launchdarkly" / "flag-created-test-and-production.json").read_text()))
    production = _integration([{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}])
    seen = for_integration(event, production)
    assert (seen.environments, seen.environment_key, seen.environment_name) == (["production"], "production",
                                                                                "Production")
    everywhere = _integration([{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}])
    assert for_integration(event, everywhere).environments == ["test", "production"]
    assert for_integration(event, everywhere).environment_key == "test"
