"""The request bodies: an Events API v2 ingest and an Events API v1 event, made from a flag change.

Both carry the same string properties, named as the hosted LaunchDarkly integration named them so
that existing Dynatrace queries keep working: ``Flag name``, ``Flag key``, ``Project key``,
``Project name``, ``Environment key``, ``Environment name``, ``Comment``, ``User name``, ``User
email`` and ``Action`` (the flag platform's action, such as ``updateOn``), plus ``Flag link``,
``Change description`` and ``Event Gateway event id``, and ``Caused by Dynatrace problem`` (``P-230412``) when
the change was made by the ``dynatrace-problems`` integration (its comment says so). ``Environment
key`` and ``Environment name`` name every environment of the change the integration's policy allowed
(``Event.environments``), comma-separated, or ``*`` and ``All environments`` for a change to every
environment. The names come from the gateway's flag-platform connection, else from the webhook
(``Event.environment_names``); a name that is not known is left out, and the delivery says so in a
warning. A property with nothing to say is left out; every value is cut to Dynatrace's 4,096
characters. That is at most 14 properties, well within Dynatrace's 100.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway import Event

from .limits import PROPERTY_VALUE_MAX_CHARS, REQUEST_MAX_BYTES, truncate
from .problem_notification import problem_in_comment
from .schema import V1_EVENT_TYPE, Settings
from .tags import tag_rule_tags

SOURCE_NAMES = {"launchdarkly": "LaunchDarkly"}
"""How the v1 ``source`` field names an event's source (the hosted integration sent ``LaunchDarkly``)."""


class PayloadTooLarge(ValueError):
    """The request body would exceed what Dynatrace accepts."""


def plain_title(event: Event) -> str:
    """The change in plain text (``Ada Lovelace turned on the flag New checkout flow in Production``)."""
    title = " ".join(event.title.replace("`", "").split())
    if title:
        return title
    flag = event.name or event.flag_key or "a feature flag"
    return f"Feature flag {flag} changed"


def actions(event: Event) -> str:
    """The flag platform's actions of the change (``updateOn``), each once, comma-separated."""
    return ", ".join(dict.fromkeys(access.action for access in event.accesses))


ALL_ENVIRONMENTS = "All environments"


def _environment_keys(event: Event) -> list[str]:
    """The environments the event names for this integration: those its policy allowed."""
    if event.environments:
        return list(event.environments)
    return [event.environment_key] if event.environment_key else []


def environment_key_property(event: Event) -> str | None:
    """``Environment key``: every allowed environment's key, comma-separated; ``*`` for a change to
    every environment."""
    if event.every_environment:
        return "*"
    return ", ".join(_environment_keys(event)) or None


def environment_name_property(event: Event) -> str | None:
    """``Environment name``: the allowed environments' names (those known), comma-separated;
    ``All environments`` for a change to every environment."""
    if event.every_environment:
        return ALL_ENVIRONMENTS
    keys = _environment_keys(event)
    names = [event.environment_names.get(key) or (event.environment_name if key == event.environment_key else None)
             for key in keys]
    return ", ".join(name for name in names if name) or None


def names_warnings(event: Event) -> list[str]:
    """What the Dynatrace event leaves out for want of a name, when the gateway said why
    (``Event.names_unavailable``): said with the delivery, not silently."""
    if event.every_environment or not event.names_unavailable:
        return []
    keys = _environment_keys(event)
    missing = [key for key in keys
               if not (event.environment_names.get(key) or (key == event.environment_key and event.environment_name))]
    if not missing:
        return []
    return [f"no name is known for environment {', '.join(missing)}, so Environment name leaves it out: "
            f"{event.names_unavailable}"]


def event_properties(event: Event) -> dict[str, str]:
    """The properties of the Dynatrace event, in a fixed order, empty ones left out."""
    member = event.member
    candidates = {
        "Flag name": event.name,
        "Flag key": event.flag_key,
        "Project key": event.project_key,
        "Project name": event.project_name,
        "Environment key": environment_key_property(event),
        "Environment name": environment_name_property(event),
        "Comment": event.comment,
        "User name": member.display_name if member else None,
        "User email": member.email if member else None,
        "Action": actions(event),
        "Flag link": event.target_url,
        "Change description": event.description,
        "Event Gateway event id": event.id,
        "Caused by Dynatrace problem": problem_in_comment(event.comment),
    }
    return {
        name: truncate(value.strip(), PROPERTY_VALUE_MAX_CHARS)
        for name, value in candidates.items()
        if value and value.strip()
    }


def v2_body(event: Event, settings: Settings, selector: str) -> dict[str, Any]:
    """The Events API v2 ingest body for ``event``, attached to the entities ``selector`` picks."""
    return {
        "eventType": settings.event_type,
        "title": plain_title(event),
        "startTime": event.occurred_at_ms,
        "entitySelector": selector,
        "properties": event_properties(event),
    }


def v1_body(event: Event, settings: Settings, tags: Sequence[str]) -> dict[str, Any]:
    """The Events API v1 body for ``event``, attached to the entities of the integration's type that
    carry any of ``tags``."""
    flag = event.name or event.flag_key or "unnamed"
    return {
        "eventType": V1_EVENT_TYPE,
        "attachRules": {
            "tagRule": [{"meTypes": [settings.entity_type], "tags": tag_rule_tags(tags)}]
        },
        "source": SOURCE_NAMES.get(event.source, f"Flag Event Gateway ({event.source})"),
        "description": plain_title(event),
        "configuration": f'Feature flag "{flag}"',
        "customProperties": event_properties(event),
        "start": event.occurred_at_ms,
    }


def encode(body: dict[str, Any]) -> bytes:
    """``body`` as the JSON bytes to send; raises :class:`PayloadTooLarge` over 1 MB."""
    data = json.dumps(body, separators=(",", ":")).encode("ascii")
    if len(data) > REQUEST_MAX_BYTES:
        raise PayloadTooLarge(
            f"the event is {len(data):,} bytes as JSON, over the {REQUEST_MAX_BYTES:,} bytes Dynatrace "
            "accepts in one request (the change's title is too long)"
        )
    return data
