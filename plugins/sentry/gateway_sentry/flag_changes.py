"""Flag changes to Sentry's feature-flag change tracking: the request for one change, and its answer.

Sentry's change-tracking webhook (the URL its feature-flag settings show for a provider) takes:

- **generic** provider: ``{"data": [{"action", "change_id", "created_at", "created_by": {"id",
  "type"}, "flag"}], "meta": {"version": 1}}``, signed with ``X-Sentry-Signature``: the HMAC-SHA256
  hex digest of the body with the signing secret. ``change_id`` is a 64-bit idempotency token: Sentry
  writes one record per id, so a retried delivery is recorded once.
- **launchdarkly** provider: the flag platform's own webhook payload (its audit-log entry), signed
  the way the flag platform signs it, ``X-LD-Signature``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timezone
from typing import Any

import gateway

from .launchdarkly import error_detail

GENERIC = "generic"
LAUNCHDARKLY = "launchdarkly"
FORMATS = (GENERIC, LAUNCHDARKLY)
PROTOCOL_VERSION = 1
SIGNATURE_HEADERS = {GENERIC: "X-Sentry-Signature", LAUNCHDARKLY: "X-LD-Signature"}

CREATE_ACTIONS = frozenset({"createFlag", "cloneFlag"})
DELETE_ACTIONS = frozenset({"deleteFlag"})


def action_of(event: gateway.Event) -> str:
    """``created``, ``deleted`` or ``updated``, from the change's accesses."""
    actions = {access.action for access in event.accesses}
    if actions & CREATE_ACTIONS:
        return "created"
    if actions & DELETE_ACTIONS:
        return "deleted"
    return "updated"


def change_id(event: gateway.Event) -> int:
    """A positive 63-bit number fixed by the change's id in the flag platform: the same on every
    retry, and for the same change received twice."""
    digest = hashlib.sha256(f"{event.source}|{event.source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def created_by(event: gateway.Event) -> dict[str, str]:
    """Who made the change: the member's e-mail, else name, else id; else the flag platform itself."""
    member = event.member
    if member is not None:
        if member.email:
            return {"id": member.email, "type": "email"}
        if member.display_name:
            return {"id": member.display_name, "type": "name"}
        if member.id:
            return {"id": member.id, "type": "id"}
    return {"id": "LaunchDarkly", "type": "name"}


def generic_body(event: gateway.Event) -> dict[str, Any]:
    """The generic provider's payload for one flag change."""
    occurred = event.occurred_at.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None)
    return {
        "data": [
            {
                "action": action_of(event),
                "change_id": change_id(event),
                "created_at": occurred.isoformat(),
                "created_by": created_by(event),
                "flag": event.flag_key,
            }
        ],
        "meta": {"version": PROTOCOL_VERSION},
    }


def request_for(event: gateway.Event, config: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the request carrying ``event`` in the configured format."""
    if config["format"] == LAUNCHDARKLY:
        body = json.dumps(event.raw, separators=(",", ":")).encode()
    else:
        body = json.dumps(generic_body(event), separators=(",", ":")).encode()
    signature = gateway.hmac_sha256_hex(config["signing_secret"], body)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADERS[config["format"]]: signature}


def check(event: gateway.Event, config: dict[str, Any]) -> gateway.Verdict:
    """Flag changes only; the launchdarkly format needs the flag platform's payload."""
    if event.kind != "flag" or not event.flag_key:
        return gateway.Skip(f"not a flag change ({event.kind}): Sentry tracks changes to flags only")
    if config["format"] == LAUNCHDARKLY and (event.source != "launchdarkly" or not isinstance(event.raw, dict)):
        return gateway.Skip(
            f"the launchdarkly format forwards the flag platform's own payload, and this event came from "
            f"{event.source}: use the generic format"
        )
    return gateway.Take()


def sentry_detail(response: gateway.HttpResponse) -> str:
    """What Sentry said about a refused request: its ``detail``, else what the body shows."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return error_detail(response)


def deliver(event: gateway.Event, config: dict[str, Any], http: gateway.HttpClient) -> gateway.DeliveryResult:
    """Send the change; read Sentry's answer. :class:`gateway.TransportError` propagates (retried)."""
    http.add_secrets(config["signing_secret"])
    body, headers = request_for(event, config)
    try:
        response = http.post(config["webhook_url"], data=body, headers=headers)
    except gateway.TargetNotAllowed as exc:
        return gateway.Failed(f"webhook_url may not be sent to: {exc}")
    what = f"flag {event.flag_key} {action_of(event)}"
    if response.ok:
        details: dict[str, Any] = {"status": response.status_code, "format": config["format"]}
        if config["format"] == GENERIC:
            details["change_id"] = change_id(event)
        return gateway.Delivered(f"{what}: recorded by Sentry's change tracking ({response.status_code})", details)
    detail = sentry_detail(response)
    if response.is_retryable:
        return gateway.RetryLater(f"Sentry answered {response.status_code} ({detail}); will retry",
                                  after=response.retry_after)
    status = response.status_code
    header = SIGNATURE_HEADERS[config["format"]]
    if status in (401, 403):
        return gateway.Failed(
            f"Sentry refused the signature ({status}: {detail}): set signing_secret to the secret saved for "
            f"the {config['format']} provider in Sentry's feature-flag settings ({header} is signed with it)"
        )
    if status == 404:
        return gateway.Failed(
            f"Sentry has no change-tracking webhook at webhook_url (404: {detail}): copy the webhook URL "
            "from Sentry's feature-flag settings (Change Tracking) for this provider"
        )
    if status == 400:
        return gateway.Failed(f"Sentry refused the payload as invalid (400: {detail}): check that format "
                              "matches the provider of webhook_url")
    return gateway.Failed(f"Sentry answered {status} ({detail}): check webhook_url")


def status_checks(config: dict[str, Any]) -> list[gateway.StatusCheck]:
    """Does the webhook URL's provider (``.../provider/<name>/``) match the format?"""
    parts = [p for p in config["webhook_url"].split("?")[0].split("/") if p]
    provider = parts[parts.index("provider") + 1] if "provider" in parts[:-1] else None
    name = "webhook URL and format"
    if provider is None:
        return [gateway.StatusCheck(name, "warning", (
            "webhook_url does not look like Sentry's change-tracking URL "
            "(…/flags/hooks/provider/<provider>/): copy it from Sentry's feature-flag settings"))]
    if provider != config["format"]:
        return [gateway.StatusCheck(name, "error", (
            f"webhook_url is for Sentry's {provider} provider but format is {config['format']}: Sentry would "
            f"refuse every change; set format to {provider}" if provider in FORMATS else
            f"webhook_url is for Sentry's {provider} provider, which this integration does not speak: add a "
            "generic provider in Sentry and use its URL"))]
    return [gateway.StatusCheck(name, "ok", f"changes go to Sentry's {provider} provider, signed with "
                                            f"{SIGNATURE_HEADERS[provider]}")]
