"""The configuration of a Sentry integration (a marshmallow schema)."""

from __future__ import annotations

import re
from typing import Any

import gateway
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

DEFAULT_EVENT_KEY = "sentry-errors"
DEFAULT_EVENTS_URL = "https://events.launchdarkly.com"
DEFAULT_API_URL = "https://app.launchdarkly.com"
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_DELAY_SECONDS = 1.0
MAX_BATCH_DELAY_SECONDS = 10.0

_SENTRY_ID = re.compile(r"[0-9]+")
_SENTRY_SLUG = re.compile(r"[a-z0-9_-]+")
_LD_KEY = re.compile(r"[A-Za-z0-9._-]+")


class SentryProject(fields.Field[str]):
    """A Sentry project: its numeric id (JSON number or string) or its slug, loaded as a string.

    Slugs are lower-cased, as Sentry writes them.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if _SENTRY_ID.fullmatch(text) or _SENTRY_SLUG.fullmatch(text):
                return text
        raise ValidationError(
            "give the numeric Sentry project id (4504123456789012) or the project slug (checkout)"
        )


def _check_sentry_environment(name: str) -> None:
    if name == "None" or any(ch.isspace() or ch == "/" for ch in name):
        raise ValidationError('a Sentry environment name has no spaces, newlines or "/" and is not "None"')


def _check_ld_key(key: str) -> None:
    if not _LD_KEY.fullmatch(key):
        raise ValidationError("a LaunchDarkly key may only contain letters, digits, '.', '_' and '-'")


def _check_event_key(key: str) -> None:
    if not key or key != key.strip():
        raise ValidationError("the event key cannot be empty or start or end with a space")


class MappingSchema(Schema):
    """One Sentry project and environment, and the LaunchDarkly environment its errors go to."""

    sentry_project = SentryProject(
        required=True,
        metadata={"description": "The Sentry project: its numeric id or its slug (checkout)."},
    )
    sentry_environment = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=64), _check_sentry_environment],
        metadata={"description": "The Sentry environment name, as the SDK sets it (production)."},
    )
    ld_project = fields.String(
        required=True,
        validate=_check_ld_key,
        metadata={
            "description": "The LaunchDarkly project key the errors are imported into "
            "(letters, digits, '.', '_', '-')."
        },
    )
    ld_environment = fields.String(
        required=True,
        validate=_check_ld_key,
        metadata={
            "description": "The LaunchDarkly environment key the errors are imported into "
            "(letters, digits, '.', '_', '-')."
        },
    )


class SentryConfigSchema(Schema):
    """Config of a Sentry integration: how to verify Sentry's webhooks and where to import errors."""

    client_secret = gateway.Secret(
        load_default=None,
        min_length=16,  # Sentry's are 64 hex digits; weak ones (blank, one kind of character) refused
        metadata={
            "description": "The client secret of the Sentry internal integration, used to verify "
            "the Sentry-Hook-Signature of its webhooks. Sentry shows it once it has the webhook URL: "
            "save the integration without it, give Sentry the URL, then set it. Until it is set, every "
            "webhook is refused (401) and the integration's status is red."
        },
    )
    access_token = gateway.Secret(
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "A LaunchDarkly access token whose role allows importEventData in the "
            "mapped environments and reading metrics (creating them too, for the create_metric action)."
        },
    )
    event_key = fields.String(
        load_default=DEFAULT_EVENT_KEY,
        validate=_check_event_key,
        metadata={
            "description": "The metric event key each Sentry error is imported as; a LaunchDarkly "
            "custom conversion metric with this event key counts them."
        },
    )
    environment_mappings = fields.List(
        fields.Nested(MappingSchema),
        required=True,
        validate=validate.Length(min=1, error="map at least one Sentry project and environment"),
        metadata={
            "description": "Which LaunchDarkly environment each Sentry project and environment's "
            "errors go to. Several may share a LaunchDarkly environment; each Sentry project and "
            "environment may appear once."
        },
    )
    events_url = gateway.TargetURL(
        load_default=DEFAULT_EVENTS_URL,
        metadata={"description": "Base URL of the LaunchDarkly events service (metric import API)."},
    )
    api_url = gateway.TargetURL(
        load_default=DEFAULT_API_URL,
        metadata={"description": "Base URL of the LaunchDarkly REST API (metrics)."},
    )
    batch_size = fields.Integer(
        load_default=DEFAULT_BATCH_SIZE,
        strict=True,
        validate=validate.Range(min=1, max=MAX_BATCH_SIZE),
        metadata={
            "description": "At most this many errors are imported per request, grouped by LaunchDarkly "
            f"project and environment (1 to {MAX_BATCH_SIZE}; 1 sends one request per error)."
        },
    )
    batch_delay_seconds = fields.Float(
        load_default=DEFAULT_BATCH_DELAY_SECONDS,
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_BATCH_DELAY_SECONDS),
        metadata={
            "description": "How long an error may wait for others to share its request, in seconds "
            f"(0 to {MAX_BATCH_DELAY_SECONDS:g}). Under a burst requests fill at once and none waits."
        },
    )

    @validates_schema
    def _each_sentry_environment_once(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a Sentry project and environment mapped twice, keyed at the later mapping."""
        seen: dict[tuple[str, str], int] = {}
        errors: dict[int, list[str]] = {}
        for index, mapping in enumerate(data.get("environment_mappings") or []):
            pair = (mapping["sentry_project"], mapping["sentry_environment"])
            if pair in seen:
                first = seen[pair]
                errors[index] = [
                    f"Sentry project {pair[0]}, environment {pair[1]} is already mapped by row {first + 1} "
                    "of the environment mappings; one Sentry project and environment can go to "
                    "one LaunchDarkly environment only"
                ]
            else:
                seen[pair] = index
        if errors:
            raise ValidationError(errors, field_name="environment_mappings")

    @post_load
    def _strip_trailing_slashes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name in ("events_url", "api_url"):
            data[name] = data[name].rstrip("/")
        return data
