"""An event as one integration's plugin sees it: the environments of a change that the integration's
policy allowed (a change to several environments names only those)."""

from __future__ import annotations

import dataclasses

from gateway.events import Event
from gateway.host.builtin.launchdarkly import environment_of
from gateway.host.integrations import ActiveIntegration


def allowed_environments(event: Event, integration: ActiveIntegration) -> list[str]:
    """The keys of the environments of the event's accesses that the integration's policy allows, in
    the order of the accesses, each once. Called for an event the policy took (so no deny matched any
    access): an environment is allowed when an allow statement matches one of its accesses."""
    keys = [environment_of(access.resource) for access in event.accesses]
    if len({key for key in keys if key}) <= 1 or integration.policy is None:
        return list(dict.fromkeys(key for key in keys if key))
    allowed: list[str] = []
    for access, key in zip(event.accesses, keys):
        if key and key not in allowed and integration.policy.evaluate(
                [access], tags=event.scope_tags, attributes=event.scope_attributes).allowed:
            allowed.append(key)
    return allowed


def for_integration(event: Event, integration: ActiveIntegration) -> Event:
    """The event as the integration's plugin gets it: ``environments`` the ones its policy allowed,
    ``environment_key`` (and ``environment_name``) the first of them unless the event's own is one."""
    if not event.accesses:
        return event
    allowed = allowed_environments(event, integration)
    if not allowed or allowed == event.environments:
        return event
    key = event.environment_key if event.environment_key in allowed else allowed[0]
    name = event.environment_names.get(key) or (event.environment_name if key == event.environment_key else None)
    return dataclasses.replace(event, environments=allowed, environment_key=key, environment_name=name)
