"""Helpers of the Sentry plugin tests: fixture payloads, a valid config and signed requests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import gateway

from gateway_sentry.schema import SentryConfigSchema

SHARED_FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "sentry"
OWN_FIXTURES = Path(__file__).resolve().parent / "data"

CLIENT_SECRET = "sentry-client-secret-7f3a"
ACCESS_TOKEN = "api-0c1d2e3f-access-token"
EVENTS_URL = "https://events.launchdarkly.com"
API_URL = "https://app.launchdarkly.com"

INTEGRATION = gateway.IntegrationRef(id="int-1", name="Sentry errors", plugin="sentry")


def fixture_bytes(name: str) -> bytes:
    """A payload as Sentry sends it: the shared fixtures first, then this package's own."""
    for folder in (SHARED_FIXTURES, OWN_FIXTURES):
        path = folder / name
        if path.exists():
            return path.read_bytes()
    raise FileNotFoundError(name)


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


def make_config(**overrides: Any) -> dict[str, Any]:
    """A config loaded through the schema, as the core hands it to the hooks."""
    raw: dict[str, Any] = {
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS_TOKEN,
        "environment_mappings": [
            {
                "sentry_project": 4504123456789012,
                "sentry_environment": "production",
                "ld_project": "shop",
                "ld_environment": "production",
            },
            {
                "sentry_project": "storefront",
                "sentry_environment": "prod",
                "ld_project": "shop",
                "ld_environment": "production",
            },
            {
                "sentry_project": "checkout",
                "sentry_environment": "staging",
                "ld_project": "payments",
                "ld_environment": "staging",
            },
        ],
    }
    raw.update(overrides)
    return SentryConfigSchema().load(raw)


def signed_request(
    body: bytes,
    resource: str | None,
    *,
    secret: str = CLIENT_SECRET,
    signature: str | None = None,
    sign: bool = True,
    content_type: str = "application/json",
) -> gateway.InboundRequest:
    """A webhook request as Sentry sends it, signed with ``secret`` unless told otherwise."""
    headers = {"Request-ID": str(uuid.uuid4()), "Sentry-Hook-Timestamp": "1700917930"}
    if resource is not None:
        headers["Sentry-Hook-Resource"] = resource
    if sign:
        headers["Sentry-Hook-Signature"] = signature or gateway.hmac_sha256_hex(secret, body)
    return gateway.InboundRequest(
        method="POST",
        path=f"/webhooks/integrations/{INTEGRATION.id}",
        headers=headers,
        body=body,
        content_type=content_type,
    )


def compact(payload: Any) -> bytes:
    """JSON the way Sentry writes it (no spaces)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def stored(event: gateway.Event) -> gateway.Event:
    """The event as a delivery worker gets it back from the store."""
    return gateway.Event.from_dict(json.loads(json.dumps(event.to_dict())))
