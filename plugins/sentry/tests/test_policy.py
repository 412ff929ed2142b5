"""The policy: a usable LaunchDarkly context and a mapping for the event's project and environment."""

from __future__ import annotations

import gateway
import pytest

from gateway_sentry import plugin
from gateway_sentry.policy import route
from sentry_helpers import INTEGRATION, compact, fixture_json, make_config, signed_request, stored


def event_from(name: str, resource: str = "error", **changes) -> gateway.Event:
    """A stored event built from a fixture, with ``changes`` applied to the Sentry event first."""
    body = fixture_json(name)
    sentry_event = body["data"]["error" if resource == "error" else "event"]
    sentry_event.update(changes)
    config = make_config()
    [event] = plugin.receive_webhook(signed_request(compact(body), resource), config, INTEGRATION).events
    return stored(event)


def verdict(event: gateway.Event, config=None) -> gateway.Verdict:
    return plugin.check_event(event, config or make_config(), INTEGRATION)


def test_single_kind_context_in_a_mapped_environment_is_taken():
    assert verdict(event_from("error-created-with-ld-context.json")) == gateway.Take()


def test_multi_kind_context_is_taken():
    event = event_from("event-alert-triggered-multi-context.json", "event_alert")
    assert verdict(event) == gateway.Take()


def test_project_mapped_by_slug_is_taken():
    """The mapping names the project ``storefront``; the event's numeric id is not mapped."""
    assert verdict(event_from("error-created-slug-mapped.json")) == gateway.Take()


def test_event_without_numeric_project_is_mapped_by_slug():
    event = event_from("error-created-slug-mapped.json", project=None)
    assert event.data["project"] is None
    assert verdict(event) == gateway.Take()


def test_event_without_context_is_skipped():
    assert verdict(event_from("error-created-without-ld-context.json")) == gateway.Skip(
        "the Sentry event has no launchdarklyContext context"
    )


def test_unusable_context_is_skipped_with_what_is_wrong():
    event = event_from(
        "error-created-with-ld-context.json", contexts={"launchdarklyContext": {"kind": "user"}}
    )
    assert verdict(event) == gateway.Skip(
        "the Sentry event's launchdarklyContext cannot be used: launchdarklyContext has no key"
    )


def test_unmapped_environment_is_skipped_naming_project_and_environment():
    event = event_from("error-created-with-ld-context.json", environment="qa")
    assert verdict(event) == gateway.Skip(
        "no environment mapping for Sentry project checkout (4504123456789012), environment qa: "
        "add one to environment_mappings"
    )


def test_event_without_environment_is_skipped():
    event = event_from("error-created-with-ld-context.json", environment=None, tags=[])
    reason = verdict(event).reason
    assert "environment (none)" in reason


def test_unmapped_project_is_skipped():
    event = event_from(
        "error-created-with-ld-context.json",
        project=1,
        url="https://sentry.io/api/0/projects/acme/billing/events/x/",
    )
    assert "Sentry project billing (1), environment production" in verdict(event).reason


@pytest.mark.parametrize(
    ("environment", "ld_project"),
    [("production", "by-id"), ("staging", "by-slug")],
)
def test_mapping_by_id_wins_over_mapping_by_slug(environment, ld_project):
    config = make_config(
        environment_mappings=[
            {
                "sentry_project": "checkout",
                "sentry_environment": "production",
                "ld_project": "by-slug",
                "ld_environment": "p",
            },
            {
                "sentry_project": 4504123456789012,
                "sentry_environment": "production",
                "ld_project": "by-id",
                "ld_environment": "p",
            },
            {
                "sentry_project": "checkout",
                "sentry_environment": "staging",
                "ld_project": "by-slug",
                "ld_environment": "s",
            },
        ]
    )
    event = event_from("error-created-with-ld-context.json", environment=environment)
    mapping, _ = route(event, config)
    assert mapping.ld_project == ld_project
