"""Whether an integration takes a Sentry event: it needs a usable LaunchDarkly context and a mapping
for its Sentry project and environment."""

from __future__ import annotations

from typing import Any

import gateway

from .contexts import CONTEXT_NAME, ContextError, MissingContext, context_keys
from .mapping import Mapping, describe_project, find_mapping, mappings


class Unroutable(Exception):
    """The event cannot be imported; the message is the reason, for a person to act on."""


def route(event: gateway.Event, config: dict[str, Any]) -> tuple[Mapping, dict[str, str]]:
    """The mapping an event goes to and its context keys by kind. Raises :class:`Unroutable`."""
    data = event.data
    try:
        keys = context_keys(data.get("launchdarkly_context"))
    except MissingContext as exc:
        raise Unroutable(str(exc)) from None
    except ContextError as exc:
        raise Unroutable(f"the Sentry event's {CONTEXT_NAME} cannot be used: {exc}") from None
    mapping = find_mapping(
        mappings(config), data.get("project"), data.get("project_slug"), data.get("environment")
    )
    if mapping is None:
        project = describe_project(data.get("project"), data.get("project_slug"))
        raise Unroutable(
            f"no environment mapping for Sentry project {project}, environment "
            f"{data.get('environment') or '(none)'}: add one to environment_mappings"
        )
    return mapping, keys


def check(event: gateway.Event, config: dict[str, Any]) -> gateway.Verdict:
    """Take the event when it can be routed, else skip it with the reason."""
    try:
        route(event, config)
    except Unroutable as exc:
        return gateway.Skip(str(exc))
    return gateway.Take()
