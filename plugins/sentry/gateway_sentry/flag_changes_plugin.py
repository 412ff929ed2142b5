"""The hooks of the Sentry flag-change tracking integration (entry point ``sentry-flags``).

Flag changes allowed by the integration's policy go to Sentry's change-tracking webhook, so that
Sentry can mark suspect flags on issues.
"""

from __future__ import annotations

import copy
from typing import Any

import gateway
from marshmallow import Schema, validate
from marshmallow import fields as ma_fields

from . import flag_changes

KEY = "sentry-flags"
DEFAULT_POLICY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


class FlagChangesConfigSchema(Schema):
    """Where Sentry's change tracking takes flag changes, and how they are signed."""

    webhook_url = gateway.TargetURL(
        required=True,
        metadata={"description": "The change-tracking webhook URL Sentry's feature-flag settings show for "
                                 "the provider (…/flags/hooks/provider/generic/)."},
    )
    signing_secret = gateway.Secret(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "The signing secret saved for the provider in Sentry's feature-flag settings."},
    )
    format = ma_fields.String(
        load_default=flag_changes.GENERIC,
        validate=validate.OneOf(flag_changes.FORMATS),
        metadata={"description": "generic (X-Sentry-Signature, Sentry's generic payload) or launchdarkly "
                                 "(the flag platform's payload as received, X-LD-Signature)."},
    )


@gateway.hookimpl
def integration_type() -> gateway.IntegrationType:
    return gateway.IntegrationType(
        key=KEY,
        name="Flag changes to Sentry change tracking",
        description=("Sends flag changes to Sentry's feature-flag change tracking, signed with the provider's "
                     "signing secret, so that Sentry marks suspect flags on issues."),
        config_schema=FlagChangesConfigSchema,
        default_policy=copy.deepcopy(DEFAULT_POLICY),
    )


@gateway.hookimpl
def check_event(event: gateway.Event, config: dict[str, Any]) -> gateway.Verdict:
    """Flag changes only (and, for the launchdarkly format, the flag platform's own)."""
    return flag_changes.check(event, config)


@gateway.hookimpl
def deliver_event(event: gateway.Event, config: dict[str, Any], http: gateway.HttpClient) -> gateway.DeliveryResult:
    """Send the change to Sentry's change-tracking webhook."""
    return flag_changes.deliver(event, config, http)


@gateway.hookimpl
def integration_status(config: dict[str, Any]) -> list[gateway.StatusCheck]:
    """Whether the webhook URL's provider matches the format."""
    return flag_changes.status_checks(config)
