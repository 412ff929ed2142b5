"""The metric import request for one Sentry error (``POST /v2/event-data-import/<project>/<env>``)."""

from __future__ import annotations

from typing import Any

import gateway

from . import __version__
from .launchdarkly import auth_headers
from .mapping import Mapping

EVENT_SCHEMA = "4"
INTEGRATION_NAME = "event-gateway"
USER_AGENT = f"MetricImport-{INTEGRATION_NAME}-int/{__version__}"


def import_url(events_url: str, mapping: Mapping) -> str:
    """The import endpoint of the mapping's LaunchDarkly environment."""
    return f"{events_url}/v2/event-data-import/{mapping.ld_project}/{mapping.ld_environment}"


def import_headers(access_token: str, payload_id: str) -> dict[str, str]:
    """Headers of an import request. ``payload_id`` must stay the same on every retry of one
    delivery: LaunchDarkly drops a payload whose id it has already taken."""
    return {
        **auth_headers(access_token),
        "Content-Type": "application/json",
        "X-LaunchDarkly-Event-Schema": EVENT_SCHEMA,
        "X-LaunchDarkly-Payload-ID": payload_id,
        "User-Agent": USER_AGENT,
    }


def import_body(event: gateway.Event, event_key: str, context_keys: dict[str, str]) -> list[dict[str, Any]]:
    """The request body: one custom event, dated when the error happened, for the event's contexts."""
    data = event.data
    return [
        {
            "kind": "custom",
            "key": event_key,
            "creationDate": event.occurred_at_ms,
            "contextKeys": dict(context_keys),
            "data": {
                "sentryEventId": data["event_id"],
                "sentryIssueId": data.get("issue_id"),
                "title": data.get("title"),
                "level": data.get("level"),
                "release": data.get("release"),
            },
        }
    ]
