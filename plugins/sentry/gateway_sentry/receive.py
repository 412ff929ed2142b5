"""Reading a verified Sentry webhook: which resource it is about and the error event it carries.

Sentry waits one second for an answer and retries with a new ``Request-ID``, so this only parses:
no network calls. Duplicates are recognised by the Sentry event id (the event's ``source_id``).
"""

from __future__ import annotations

from typing import Any

import gateway

from .sentry_event import MalformedEvent, build_event

RESOURCE_HEADER = "Sentry-Hook-Resource"

EVENT_RESOURCES = {
    # resource: (the action that carries an event, the key of the event under ``data``)
    "error": ("created", "error"),
    "event_alert": ("triggered", "event"),
}


def read_webhook(request: gateway.InboundRequest) -> gateway.Received:
    """The events of a verified webhook. Raises :class:`gateway.Rejected` (400, 415) when the body
    is not the JSON Sentry documents for its resource."""
    resource = request.header(RESOURCE_HEADER)
    if not resource:
        raise gateway.Rejected(400, f"missing {RESOURCE_HEADER} header")
    body = request.json()
    if not isinstance(body, dict):
        raise gateway.Rejected(400, "the body is not a JSON object")
    action = body.get("action")
    if resource == "installation":
        return gateway.Received(message=f"installation {action or 'webhook'} acknowledged")
    if resource not in EVENT_RESOURCES:
        return gateway.Received(
            message=f"{resource} webhook acknowledged; not used",
            ignored=f"Sentry resource {resource!r} carries no error event "
            "(this integration uses error and event_alert)",
        )
    wanted_action, key = EVENT_RESOURCES[resource]
    if action != wanted_action:
        return gateway.Received(
            message=f"{resource} {action} webhook acknowledged; not used",
            ignored=f"Sentry {resource} webhook with action {action!r} "
            f"(only {wanted_action!r} carries a new error event)",
        )
    return gateway.Received(events=[_event(body, resource, key)], message="Sentry event accepted")


def _event(body: dict[str, Any], resource: str, key: str) -> gateway.Event:
    data = body.get("data")
    sentry_event = data.get(key) if isinstance(data, dict) else None
    path = f"data.{key}"
    if not isinstance(sentry_event, dict):
        raise gateway.Rejected(
            400, f"a Sentry {resource} webhook carries its event in {path}, which is missing"
        )
    try:
        return build_event(sentry_event, path=path, kind=resource, raw=body)
    except MalformedEvent as exc:
        raise gateway.Rejected(400, str(exc)) from None
