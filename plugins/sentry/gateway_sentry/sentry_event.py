"""Turning a Sentry event (``data.error`` or ``data.event`` of a webhook) into a gateway event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import gateway

from .contexts import CONTEXT_NAME

SOURCE = "sentry"

_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")


class MalformedEvent(ValueError):
    """The Sentry event lacks something the gateway needs; the message says what."""


def build_event(sentry_event: dict[str, Any], *, path: str, kind: str, raw: Any) -> gateway.Event:
    """The gateway event for one Sentry event; ``path`` names where it sits in the body
    (``data.error``) for messages. Raises :class:`MalformedEvent`."""
    event_id = sentry_event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent(f"{path}.event_id is missing")
    title = _text(sentry_event.get("title")) or event_id
    contexts = sentry_event.get("contexts")
    data = {
        "event_id": event_id,
        "project": _text(sentry_event.get("project")),
        "project_slug": project_slug(sentry_event),
        "environment": environment(sentry_event),
        "issue_id": _text(sentry_event.get("issue_id")),
        "title": title,
        "level": _text(sentry_event.get("level")),
        "release": _text(sentry_event.get("release")),
        "web_url": _text(sentry_event.get("web_url")),
        "launchdarkly_context": contexts.get(CONTEXT_NAME) if isinstance(contexts, dict) else None,
    }
    return gateway.Event(
        source=SOURCE,
        source_id=event_id,
        kind=kind,
        occurred_at=occurred_at(sentry_event, path),
        title=title,
        data=data,
        raw=raw,
    )


def occurred_at(sentry_event: dict[str, Any], path: str) -> datetime:
    """When the error happened: ``datetime`` (ISO 8601, ``Z`` or an offset), else ``timestamp``
    (seconds since the epoch). A time without an offset is UTC."""
    value = sentry_event.get("datetime")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    timestamp = sentry_event.get("timestamp")
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        try:
            return datetime.fromtimestamp(timestamp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    if value is None and timestamp is None:
        raise MalformedEvent(f"{path} has neither datetime nor timestamp")
    raise MalformedEvent(
        f"{path}.datetime {value!r} is not an ISO 8601 time and {path}.timestamp {timestamp!r} "
        "is not a number of seconds"
    )


def project_slug(sentry_event: dict[str, Any]) -> str | None:
    """The project slug from the event's API URL (``.../projects/<org>/<project>/events/...``)."""
    for name in ("url", "web_url"):
        url = sentry_event.get(name)
        if isinstance(url, str):
            match = _PROJECT_IN_URL.search(url)
            if match:
                return match.group(1).lower()
    return None


def environment(sentry_event: dict[str, Any]) -> str | None:
    """The event's environment: the top-level field, else the ``environment`` tag."""
    value = _text(sentry_event.get("environment"))
    if value:
        return value
    tags = sentry_event.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, list) and len(tag) == 2 and tag[0] == "environment":
                return _text(tag[1])
    return None


def _text(value: Any) -> str | None:
    """A string or number field as a string; None for anything else (absent, null, objects)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
