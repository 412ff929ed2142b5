"""Flag changes to Sentry's feature-flag change tracking: the request for one change, and its answer.

Sentry's change-tracking webhook (the URL its feature-flag settings show for a provider) takes:

- **generic** provider: ``{"data": [{"action", "change_id", "created_at", "created_by": {"id",
  "type"}, "flag"}], "meta": {"version": 1}}``, signed with ``X-Sentry-Signature``: the HMAC-SHA256
  hex digest of the body with the signing secret. ``flag`` and ``created_by.id`` take at most 100
  characters. Sentry drops a repeated ``change_id`` within one request only: a change delivered again
  (a retry after Sentry recorded it but its answer was lost) is recorded again.
- **launchdarkly** provider: the flag platform's own webhook payload (its audit-log entry), signed
  the way the flag platform signs it, ``X-LD-Signature``. Sentry needs its ``accesses``, ``date``,
  ``member``, ``name`` (at most 100 characters) and ``description``.

Sentry answers a payload it cannot read with **200 and the errors as the body** (a JSON object or list
of field errors), and an accepted one with 200 and an empty body: a 200 with errors is a failed
delivery, with Sentry's messages. What Sentry would refuse is refused here first, before sending, with
the reason recorded (:func:`local_refusal`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timezone
from typing import Any

import gateway

from .launchdarkly import DETAIL_CHARS, error_detail

GENERIC = "generic"
LAUNCHDARKLY = "launchdarkly"
FORMATS = (GENERIC, LAUNCHDARKLY)
PROTOCOL_VERSION = 1
SIGNATURE_HEADERS = {GENERIC: "X-Sentry-Signature", LAUNCHDARKLY: "X-LD-Signature"}

MAX_CHARS = 100
"""The most characters Sentry's change tracking takes in a flag key (generic ``flag``), a flag name
(launchdarkly ``name``) and ``created_by.id``."""

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
    """Who made the change: the member's e-mail, else name, else id (the first of at most 100
    characters, which Sentry takes); else the flag platform itself."""
    member = event.member
    if member is not None:
        for value, kind in ((member.email, "email"), (member.display_name, "name"), (member.id, "id")):
            if value and len(value) <= MAX_CHARS:
                return {"id": value, "type": kind}
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
    """Flag changes only; the launchdarkly format needs the flag platform's payload; nothing Sentry
    would refuse (:func:`local_refusal`)."""
    if event.kind != "flag" or not event.flag_key:
        return gateway.Skip(f"not a flag change ({event.kind}): Sentry tracks changes to flags only")
    if config["format"] == LAUNCHDARKLY and (event.source != "launchdarkly" or not isinstance(event.raw, dict)):
        return gateway.Skip(
            f"the launchdarkly format forwards the flag platform's own payload, and this event came from "
            f"{event.source}: use the generic format"
        )
    refusal = local_refusal(event, config)
    return gateway.Skip(refusal) if refusal else gateway.Take()


def local_refusal(event: gateway.Event, config: dict[str, Any]) -> str | None:
    """Why Sentry's change tracking would refuse this change (it answers 200 with the errors), or None."""
    if config["format"] == GENERIC:
        flag = event.flag_key or ""
        if len(flag) > MAX_CHARS:
            return (f"the flag key is {len(flag)} characters, and Sentry's change tracking takes at most "
                    f"{MAX_CHARS} (it would answer 'Ensure this field has no more than {MAX_CHARS} characters.')")
        return None
    raw = event.raw if isinstance(event.raw, dict) else {}
    needed = {"accesses": list, "date": int, "member": dict, "name": str, "description": str}
    missing = [key for key, kind in needed.items()
               if not isinstance(raw.get(key), kind) or (kind is int and isinstance(raw.get(key), bool))]
    if missing:
        return (f"the flag platform's payload has no {', '.join(missing)} (or of another type), which Sentry's "
                "LaunchDarkly provider requires: use the generic format")
    if not isinstance(raw["member"].get("email"), str):
        return ("the flag platform's payload has no member e-mail, which Sentry's LaunchDarkly provider reads: "
                "use the generic format")
    if len(raw["name"]) > MAX_CHARS:
        return (f"the flag's name is {len(raw['name'])} characters, and Sentry's LaunchDarkly provider takes at "
                f"most {MAX_CHARS}: use the generic format (it sends the flag key)")
    return None


def sentry_errors(response: gateway.HttpResponse) -> str | None:
    """The errors of a 2xx answer that carries them (Sentry answers an invalid payload with 200 and
    its field errors as the body), as ``path: message`` texts; None for an answer without errors."""
    if not response.content or not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    messages = list(_error_texts(body, ""))
    return "; ".join(messages)[:DETAIL_CHARS] if messages else None


def _error_texts(value: Any, path: str):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _error_texts(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            if value:
                yield f"{path}: {' '.join(value)}" if path else " ".join(value)
            return
        for index, item in enumerate(value):
            yield from _error_texts(item, f"{path}[{index}]")
    elif isinstance(value, str) and value:
        yield f"{path}: {value}" if path else value


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
    errors = sentry_errors(response) if response.ok else None
    if errors:
        return gateway.Failed(f"Sentry answered {response.status_code} but did not record the change: {errors} "
                              "(Sentry answers a payload it refuses with 200 and the errors)")
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
