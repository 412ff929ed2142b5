"""Reading Sentry webhooks: resources, the event built from them, malformed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import gateway
import pytest

from gateway_sentry import plugin
from sentry_helpers import INTEGRATION, compact, fixture_bytes, fixture_json, signed_request, stored


def receive(config, body: bytes, resource: str | None, **kwargs) -> gateway.Received:
    return plugin.receive_webhook(signed_request(body, resource, **kwargs), config, INTEGRATION)


def test_error_created_becomes_one_event(config):
    received = receive(config, fixture_bytes("error-created-with-ld-context.json"), "error")
    assert received.ignored is None
    [event] = received.events
    assert event.source == "sentry"
    assert event.source_id == "a9f6b1c2d3e44f5a8b7c6d5e4f3a2b1c"
    assert event.kind == "error"
    assert event.title == "ZeroDivisionError: division by zero"
    assert event.occurred_at == datetime(2023, 11, 25, 13, 12, 9, 123456, tzinfo=UTC)
    assert event.data == {
        "event_id": "a9f6b1c2d3e44f5a8b7c6d5e4f3a2b1c",
        "project": "4504123456789012",
        "project_slug": "checkout",
        "environment": "production",
        "issue_id": "4611223344",
        "title": "ZeroDivisionError: division by zero",
        "level": "error",
        "release": "checkout@2.14.0",
        "web_url": "https://sentry.io/organizations/acme/issues/4611223344/events/a9f6b1c2d3e44f5a8b7c6d5e4f3a2b1c/",
        "launchdarkly_context": {"kind": "user", "key": "user-8271", "name": "Sandy"},
    }
    assert event.raw == fixture_json("error-created-with-ld-context.json")


def test_event_survives_the_store(config):
    [event] = receive(config, fixture_bytes("error-created-with-ld-context.json"), "error").events
    again = stored(event)
    assert again.data == event.data
    assert again.occurred_at_ms == event.occurred_at_ms == 1700917929123


def test_error_without_context_is_still_stored(config):
    """The policy, not the receiver, decides; the skip reason is then recorded with the event."""
    [event] = receive(config, fixture_bytes("error-created-without-ld-context.json"), "error").events
    assert event.source_id == "0b1c2d3e4f5a46b7c8d9e0f1a2b3c4d5"
    assert event.data["launchdarkly_context"] is None
    assert event.occurred_at == datetime(2023, 11, 25, 13, 14, 41, tzinfo=UTC)


def test_event_alert_carries_the_event_under_data_event(config):
    [event] = receive(config, fixture_bytes("event-alert-triggered-multi-context.json"), "event_alert").events
    assert event.kind == "event_alert"
    assert event.source_id == "5c2e9a7b1d3f4e6a8b0c2d4e6f8a0b1c"
    assert event.data["issue_id"] == "4611229000"
    assert event.data["launchdarkly_context"]["kind"] == "multi"
    assert event.occurred_at == datetime(2023, 11, 26, 8, 30, 0, 250000, tzinfo=UTC)


def test_environment_from_tag_and_slug_from_url(config):
    [event] = receive(config, fixture_bytes("error-created-slug-mapped.json"), "error").events
    assert event.data["environment"] == "prod"
    assert event.data["project_slug"] == "storefront"
    assert event.data["project"] == "4504777777777777"


def test_installation_is_acknowledged_without_events(config):
    received = receive(config, fixture_bytes("installation-created.json"), "installation")
    assert received.events == []
    assert received.ignored is None
    assert "installation created" in received.message


@pytest.mark.parametrize("resource", ["issue", "metric_alert", "comment", "seer"])
def test_other_resources_are_acknowledged_and_recorded_as_ignored(config, resource):
    received = receive(config, fixture_bytes("issue-created.json"), resource)
    assert received.events == []
    assert resource in received.ignored


def test_error_with_another_action_is_ignored(config):
    body = fixture_json("error-created-with-ld-context.json")
    body["action"] = "deleted"
    received = receive(config, compact(body), "error")
    assert received.events == []
    assert "'deleted'" in received.ignored


class TestDeduplicationIds:
    """The core de-duplicates on (integration, source, source_id): the Sentry event id."""

    def test_retry_with_a_new_request_id_gives_the_same_id(self, config):
        body = fixture_bytes("error-created-with-ld-context.json")
        first = plugin.receive_webhook(signed_request(body, "error"), config, INTEGRATION)
        retry = plugin.receive_webhook(signed_request(body, "error"), config, INTEGRATION)
        assert (first.events[0].source, first.events[0].source_id) == (
            retry.events[0].source,
            retry.events[0].source_id,
        )

    def test_error_and_alert_for_one_event_share_the_id(self, config):
        alert = fixture_json("event-alert-triggered-multi-context.json")
        error = {"action": "created", "data": {"error": alert["data"]["event"]}}
        from_alert = receive(config, compact(alert), "event_alert").events[0]
        from_error = receive(config, compact(error), "error").events[0]
        assert from_alert.source_id == from_error.source_id

    def test_different_events_have_different_ids(self, config):
        one = receive(config, fixture_bytes("error-created-with-ld-context.json"), "error").events[0]
        other = receive(config, fixture_bytes("error-created-without-ld-context.json"), "error").events[0]
        assert one.source_id != other.source_id


class TestTimes:
    def event_with(self, **fields):
        body = fixture_json("error-created-with-ld-context.json")
        for name in ("datetime", "timestamp"):
            body["data"]["error"].pop(name)
        body["data"]["error"].update(fields)
        return compact(body)

    @pytest.mark.parametrize(
        "value",
        [
            "2023-11-25T13:12:09.123456Z",
            "2023-11-25T13:12:09.123456+00:00",
            "2023-11-25T14:12:09.123456+01:00",
        ],
    )
    def test_datetime_with_z_or_offset(self, config, value):
        [event] = receive(config, self.event_with(datetime=value), "error").events
        assert event.occurred_at_ms == 1700917929123

    def test_datetime_without_offset_is_utc(self, config):
        [event] = receive(config, self.event_with(datetime="2023-11-25T13:12:09"), "error").events
        assert event.occurred_at == datetime(2023, 11, 25, 13, 12, 9, tzinfo=UTC)

    def test_falls_back_to_timestamp(self, config):
        [event] = receive(config, self.event_with(timestamp=1700917929.5), "error").events
        assert event.occurred_at_ms == 1700917929500

    def test_unreadable_datetime_falls_back_to_timestamp(self, config):
        [event] = receive(
            config, self.event_with(datetime="yesterday", timestamp=1700917929.5), "error"
        ).events
        assert event.occurred_at_ms == 1700917929500


class TestMalformedBodies:
    """Malformed bodies get a 400 (or 415) that says why, and nothing is stored."""

    def refused(self, config, body: bytes, resource: str = "error", **kwargs) -> gateway.Rejected:
        with pytest.raises(gateway.Rejected) as refused:
            receive(config, body, resource, **kwargs)
        return refused.value

    def test_not_json(self, config):
        refused = self.refused(config, b"{not json")
        assert refused.status == 400
        assert "malformed JSON" in refused.message

    def test_not_json_content_type(self, config):
        refused = self.refused(
            config, fixture_bytes("error-created-with-ld-context.json"), content_type="text/plain"
        )
        assert refused.status == 415

    def test_not_an_object(self, config):
        refused = self.refused(config, b"[1, 2]")
        assert (refused.status, refused.message) == (400, "the body is not a JSON object")

    def test_missing_resource_header(self, config):
        refused = self.refused(config, fixture_bytes("error-created-with-ld-context.json"), resource=None)
        assert refused.status == 400
        assert "Sentry-Hook-Resource" in refused.message

    def test_missing_data_error(self, config):
        refused = self.refused(config, compact({"action": "created", "data": {}}))
        assert refused.status == 400
        assert "data.error" in refused.message

    def test_missing_data_event_for_alert(self, config):
        refused = self.refused(
            config, compact({"action": "triggered", "data": {"event": None}}), "event_alert"
        )
        assert refused.status == 400
        assert "data.event" in refused.message

    @pytest.mark.parametrize("event_id", [None, "", 42])
    def test_missing_event_id(self, config, event_id):
        body = fixture_json("error-created-with-ld-context.json")
        body["data"]["error"]["event_id"] = event_id
        refused = self.refused(config, compact(body))
        assert (refused.status, refused.message) == (400, "data.error.event_id is missing")

    def test_bad_datetime_without_timestamp(self, config):
        body = fixture_json("error-created-with-ld-context.json")
        body["data"]["error"]["datetime"] = "25/11/2023 13:12"
        del body["data"]["error"]["timestamp"]
        refused = self.refused(config, compact(body))
        assert refused.status == 400
        assert "data.error.datetime '25/11/2023 13:12' is not an ISO 8601 time" in refused.message

    def test_no_time_at_all(self, config):
        body = fixture_json("error-created-with-ld-context.json")
        del body["data"]["error"]["datetime"], body["data"]["error"]["timestamp"]
        refused = self.refused(config, compact(body))
        assert (refused.status, refused.message) == (400, "data.error has neither datetime nor timestamp")


def test_fields_of_unexpected_types_are_left_out(config):
    body = fixture_json("error-created-with-ld-context.json")
    error = body["data"]["error"]
    error.update(release=None, level={"odd": True}, contexts=["not", "an", "object"], url=None, web_url=None)
    [event] = receive(config, compact(body), "error").events
    assert event.data["release"] is None
    assert event.data["level"] is None
    assert event.data["launchdarkly_context"] is None
    assert event.data["project_slug"] is None
    json.dumps(event.to_dict())
