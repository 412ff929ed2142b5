"""Events and references for unit tests, and flag-platform webhook bodies read as the gateway reads them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gateway.host.builtin import launchdarkly_source
from gateway.host.declarations import DeliveryRef, IntegrationRef
from gateway.events import Access, Event, Member
from gateway.flagplatform.flag_actions import FlagPlatform
from gateway.outbound.http import HttpClient
from gateway.host.inbound_request import InboundRequest
from gateway.kit.http import http_client

DEFAULT_PROJECT = "example-project"
DEFAULT_ENVIRONMENT = "production"
DEFAULT_FLAG = "example-flag"


def make_member(**fields: Any) -> Member:
    """A :class:`gateway.Member` (Ada Lovelace unless told otherwise)."""
    values: dict[str, Any] = {"id": "member-0001", "email": "ada@example.com", "first_name": "Ada",
                              "last_name": "Lovelace"}
    values.update(fields)
    return Member(**values)


def make_integration_ref(**fields: Any) -> IntegrationRef:
    """A :class:`gateway.IntegrationRef` as hooks get it (``id``, ``name``, ``plugin``)."""
    values: dict[str, Any] = {"id": "integration-0001", "name": "Test integration", "plugin": "example"}
    values.update(fields)
    return IntegrationRef(**values)


def make_delivery_ref(**fields: Any) -> DeliveryRef:
    """A :class:`gateway.DeliveryRef` (first attempt, a fresh UUID) as ``deliver_event`` gets it;
    without a ``flag_platform`` (give one made by :func:`make_flag_platform`), as when the gateway
    is not connected to the flag platform."""
    values: dict[str, Any] = {"id": str(uuid.uuid4()), "attempt": 1}
    values.update(fields)
    values.setdefault("integration", make_integration_ref())
    return DeliveryRef(**values)


DEFAULT_API_TOKEN = "api-fake-flag-platform-token"


def make_flag_platform(api_url: str, api_token: str = DEFAULT_API_TOKEN, *,
                       http: HttpClient | None = None) -> FlagPlatform:
    """A :class:`gateway.FlagPlatform` for unit tests, as ``delivery.flag_platform`` is when the
    gateway is connected: pointed at ``api_url`` (a ``FakeFlagPlatform``'s ``url``, whose default
    token is the default here), sending through ``http`` — pass the ``HttpClient`` the hook gets, so
    that its calls are in the same exchanges — or a new :func:`http_client`."""
    return FlagPlatform(http if http is not None else http_client(), api_url, api_token)


def make_event(*, action: str = "updateOn", **fields: Any) -> Event:
    """A flag change as the gateway normalizes the flag platform's webhooks: ``updateOn`` of flag
    ``example-flag`` in project ``example-project``, environment ``production``, by Ada Lovelace.

    Any :class:`gateway.Event` field may be given. ``accesses`` follows the project, environment and
    flag keys (and ``action``) unless given; ``title`` and ``scope_*`` follow them too. Each call gets a
    fresh ``source_id``.
    """
    project = fields.pop("project_key", DEFAULT_PROJECT)
    environment = fields.pop("environment_key", DEFAULT_ENVIRONMENT)
    flag = fields.pop("flag_key", DEFAULT_FLAG)
    name = fields.pop("name", flag.replace("-", " ").capitalize() if flag else None)
    member = fields.pop("member", make_member())
    resource = ":".join(part for part in (
        f"proj/{project}" if project else "", f"env/{environment}" if environment else "",
        f"flag/{flag}" if flag else "") if part)
    values: dict[str, Any] = {
        "source": "launchdarkly",
        "source_id": uuid.uuid4().hex[:24],
        "kind": "flag",
        "occurred_at": datetime.now(timezone.utc),
        "title": f"{member.display_name if member else 'Someone'} changed the flag {name} in {environment}",
        "accesses": [Access(action, resource)] if resource else [],
        "project_key": project,
        "environment_key": environment,
        "environments": [environment] if environment else [],
        "flag_key": flag,
        "name": name,
        "title_verb": "changed the flag",
        "member": member,
        "target_url": f"https://app.launchdarkly.com/{project}/{environment}/features/{flag}",
    }
    values.update(fields)
    return Event(**values)


def flag_webhook_body(*, project: str = DEFAULT_PROJECT, environment: str = DEFAULT_ENVIRONMENT,
                      flag: str = DEFAULT_FLAG, action: str = "updateOn", **fields: Any) -> dict[str, Any]:
    """A flag-platform webhook body (an audit-log entry) for a change of one flag; ``fields`` set or
    replace top-level keys (``comment``, ``currentVersion``, ...). Read it with :func:`parse_flag_webhook`."""
    name = flag.replace("-", " ").capitalize()
    link = f"https://app.launchdarkly.com/{project}/{environment}/features/{flag}"
    body: dict[str, Any] = {
        "_id": uuid.uuid4().hex[:24],
        "date": int(datetime.now(timezone.utc).timestamp() * 1000),
        "kind": "flag",
        "name": name,
        "description": "- Turned on the flag",
        "member": {"_id": "member-0001", "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
        "titleVerb": "turned on the flag",
        "title": f"[Ada Lovelace](mailto:ada@example.com) turned on the flag [{name}]({link}) in `{environment}`",
        "accesses": [{"action": action, "resource": f"proj/{project}:env/{environment}:flag/{flag}"}],
        "target": {"name": name, "resources": [f"proj/{project}:env/{environment}:flag/{flag}"]},
        "currentVersion": {"key": flag, "name": name, "tags": [], "customProperties": {}},
    }
    body.update(fields)
    return body


def parse_flag_webhook(body: bytes | str | Mapping[str, Any]) -> Event:
    """The :class:`gateway.Event` the gateway makes of a flag-platform webhook body, read by the same
    code as ``POST /webhooks/launchdarkly`` (signature checks aside). ``body`` is the raw bytes, JSON
    text, or the decoded object. Raises :class:`gateway.Rejected` (with the status and message the
    gateway would answer) for a body the gateway refuses."""
    if isinstance(body, Mapping):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = bytes(body)
    request = InboundRequest(method="POST", path="/webhooks/launchdarkly",
                             headers={"Content-Type": "application/json"}, body=data,
                             content_type="application/json")
    return launchdarkly_source.event_source().parse(request)


__all__ = [
    "flag_webhook_body",
    "make_delivery_ref",
    "make_event",
    "make_flag_platform",
    "make_integration_ref",
    "make_member",
    "parse_flag_webhook",
]
