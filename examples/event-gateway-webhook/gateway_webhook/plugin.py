"""The ``webhook`` integration: each event the policy allows is POSTed as JSON to a URL.

When a secret is set, ``X-Gateway-Signature`` carries the lowercase hex HMAC-SHA256 of the body, and
``X-Gateway-Delivery`` the delivery's id (the same on every retry), so the receiver can check the
sender and drop repeats.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from marshmallow import Schema, fields

from gateway import (
    Access,
    Delivered,
    DeliveryRef,
    DeliveryResult,
    Event,
    Failed,
    HttpClient,
    IntegrationRef,
    IntegrationType,
    RetryLater,
    Secret,
    TargetURL,
    hmac_sha256_hex,
    hooks,
)

KEY = "webhook"


class WebhookConfig(Schema):
    url = TargetURL(required=True, metadata={"description": "Where to POST each event (https://)."})
    secret = Secret(load_default=None, metadata={"description": "Signs each body (X-Gateway-Signature)."})


@hooks.integration_type
def integration_type() -> IntegrationType:
    return IntegrationType(
        key=KEY,
        name="Generic webhook",
        description="POSTs each event as JSON to a URL, signed with HMAC-SHA256 when a secret is set.",
        config_schema=WebhookConfig,
        default_policy=[{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}],
    )


@hooks.deliver_event
def deliver_event(event: Event, config: dict[str, Any], http: HttpClient, delivery: DeliveryRef) -> DeliveryResult:
    body = json.dumps(event.to_dict(include_raw=False), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Gateway-Delivery": delivery.id}
    if config.get("secret"):
        headers["X-Gateway-Signature"] = hmac_sha256_hex(config["secret"], body)
    response = http.post(config["url"], data=body, headers=headers)
    if response.ok:
        return Delivered(f"{response.status_code} from {config['url']}")
    if response.is_retryable:
        return RetryLater(f"the receiver answered {response.status_code}", after=response.retry_after)
    return Failed(f"the receiver answered {response.status_code}: {response.text[:200]}")


@hooks.test_event
def test_event(config: dict[str, Any], integration: IntegrationRef) -> Event:
    return Event(
        source="test",
        source_id=f"test-{integration.id}-{datetime.now(timezone.utc).timestamp()}",
        kind="flag",
        occurred_at=datetime.now(timezone.utc),
        title=f"[Test] sample flag change from Flag Event Gateway for {integration.name}",
        accesses=[Access("updateOn", "proj/example:env/production:flag/gateway-test")],
        project_key="example",
        environment_key="production",
        flag_key="gateway-test",
        name="Gateway test",
    )
