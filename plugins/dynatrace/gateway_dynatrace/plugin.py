"""The Dynatrace plugin's hooks: flag changes become Dynatrace events on the tagged entities.

Published under the ``event_gateway`` entry-point group as ``dynatrace``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from gateway import (
    Delivered,
    DeliveryRef,
    DeliveryResult,
    Event,
    Failed,
    HttpClient,
    IntegrationRef,
    IntegrationType,
    RetryLater,
    Skip,
    StatusCheck,
    Take,
    TargetNotAllowed,
    TransportError,
    Verdict,
    hooks,
)

from . import api_choice, checks
from .answers import read_v1_answer, read_v2_answer
from .api_choice import AUTO, Choice
from .payload import PayloadTooLarge, encode, names_warnings, v1_body, v2_body
from .sample import sample_event
from .schema import V1_EVENT_TYPE, DynatraceConfigSchema, Settings
from .selector import SelectorTooLong, entity_selector
from .tags import TagError, deliverable_tags, tag_rule_tags

PLUGIN_KEY = "dynatrace"
V2_PATH = "/api/v2/events/ingest"
V1_PATH = "/api/v1/events"
REDACTED = "[redacted]"
DEFAULT_POLICY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


@dataclass(frozen=True)
class Request:
    """What to send for an event: the API path, the tags it goes to and the JSON body."""

    path: str
    tags: list[str]
    data: bytes


def build_request(event: Event, settings: Settings, version: str | None = None) -> Request:
    """The request for ``event`` to Events API ``version`` (default: the settings' own); raises
    :class:`TagError`, :class:`SelectorTooLong` or :class:`PayloadTooLarge` when the event cannot be
    sent as it is."""
    version = version or settings.api_version
    tags = deliverable_tags(event, settings.tag)
    if version == "v1":
        return Request(V1_PATH, tags, encode(v1_body(event, settings, tags)))
    selector = entity_selector(settings.entity_type, tags)
    return Request(V2_PATH, tags, encode(v2_body(event, settings, selector)))


def _without_token(result: DeliveryResult, token: str) -> DeliveryResult:
    """``result`` with the token removed from its reason: Dynatrace's messages, quoted in reasons, may
    repeat what it was sent."""
    if isinstance(result, (Failed, RetryLater)) and token in result.reason:
        return dataclasses.replace(result, reason=result.reason.replace(token, REDACTED))
    return result


@hooks.integration_type
def integration_type() -> IntegrationType:
    """Declare the Dynatrace integration."""
    return IntegrationType(
        key=PLUGIN_KEY,
        name="Dynatrace",
        description="Sends flag changes to Dynatrace as events (Events API v2, or v1) on the monitored "
        "entities carrying the flag's Dynatrace tags.",
        config_schema=DynatraceConfigSchema,
        default_policy=copy.deepcopy(DEFAULT_POLICY),
    )


@hooks.check_event
def check_event(event: Event, config: dict[str, Any], integration: IntegrationRef) -> Verdict:
    """Take flag changes that carry at least one Dynatrace tag, all of them ones Dynatrace can match."""
    if event.kind != "flag":
        return Skip(f"Dynatrace gets flag changes only, and this event's kind is {event.kind}")
    settings = Settings.from_config(config)
    try:
        tags = deliverable_tags(event, settings.tag)
        if settings.api_version == "v2":  # auto may choose v1, which has no entity selector
            entity_selector(settings.entity_type, tags)
        if settings.api_version == "v1":
            tag_rule_tags(tags)
    except (TagError, SelectorTooLong) as exc:
        return Skip(str(exc))
    return Take()


@hooks.deliver_event
def deliver_event(
    event: Event, config: dict[str, Any], http: HttpClient, delivery: DeliveryRef
) -> DeliveryResult:
    """Send ``event`` to the integration's Dynatrace environment and read the answer. With
    ``api_version: auto`` the version is chosen from the token's scopes (:mod:`.api_choice`); a 403
    while the token holds the other version's scope is sent again to that version."""
    settings = Settings.from_config(config)
    http.add_secrets(settings.api_token)
    if settings.api_version != AUTO:
        return _send(event, settings, http, settings.api_version)[0]
    scopes, lookup = api_choice.token_scopes(http, settings)
    choice = api_choice.choose(scopes, lookup)
    result, status = _send(event, settings, http, choice.version)
    if status == 403:
        scopes, lookup = api_choice.token_scopes(http, settings, fresh=True)
        switched = api_choice.other_version(choice.version, scopes)
        if switched is not None:
            choice = switched
            result, status = _send(event, settings, http, choice.version)
    return _chosen(result, settings, choice)


def _send(event: Event, settings: Settings, http: HttpClient, version: str) -> tuple[DeliveryResult, int | None]:
    """The result of sending ``event`` to Events API ``version``, and Dynatrace's HTTP status (None
    when nothing was answered)."""
    try:
        request = build_request(event, settings, version)
    except (TagError, SelectorTooLong, PayloadTooLarge) as exc:
        return Failed(str(exc)), None
    url = settings.url + request.path
    headers = {
        "Authorization": f"Api-Token {settings.api_token}",
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
    }
    try:
        response = http.post(url, data=request.data, headers=headers)
    except TransportError as exc:
        return RetryLater(f"no answer from Dynatrace: {exc}"), None
    except TargetNotAllowed as exc:
        return Failed(f"the gateway may not send to the integration's url: {exc}"), None
    read = read_v1_answer if version == "v1" else read_v2_answer
    result = read(response, entity_type=settings.entity_type, tags=request.tags)
    if isinstance(result, Delivered):
        warnings = tuple(result.warnings) + tuple(names_warnings(event))
        if version == "v1" and settings.event_type != V1_EVENT_TYPE:
            warnings += (f"Events API v1 takes {V1_EVENT_TYPE} events only, so the event was sent as "
                         f"{V1_EVENT_TYPE}, not {settings.event_type}",)
        result = dataclasses.replace(result, warnings=warnings)
    return _without_token(result, settings.api_token), response.status_code


def _chosen(result: DeliveryResult, settings: Settings, choice: Choice) -> DeliveryResult:
    """``result`` saying which version ``auto`` chose, and why."""
    said = f"api_version auto sent to Events API {choice.version}: {choice.why}"
    if isinstance(result, Delivered):
        details = {**result.details, "api_version": AUTO, "api_chosen": choice.version, "api_choice": choice.why}
        return dataclasses.replace(result, summary=f"{result.summary} ({said})", details=details)
    return _without_token(dataclasses.replace(result, reason=f"{result.reason} ({said})"), settings.api_token)


@hooks.integration_status
def integration_status(config: dict[str, Any], http: HttpClient, integration: IntegrationRef) -> list[StatusCheck]:
    """Will Dynatrace take the token (enabled, not expired, the scope the API version needs), and does
    an entity carry the integration's tag? See :mod:`gateway_dynatrace.checks`."""
    return checks.status_checks(config, http)


@hooks.test_event
def test_event(config: dict[str, Any], integration: IntegrationRef) -> Event:
    """A sample flag change labelled ``[Test]`` that this integration's policy hook takes."""
    return sample_event(integration)
