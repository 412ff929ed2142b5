"""Importing one Sentry error into LaunchDarkly through the metric import API."""

from __future__ import annotations

from typing import Any

import gateway

from .launchdarkly import error_detail
from .mapping import Mapping
from .metrics import metric_missing_warning
from .payload import import_body, import_headers, import_url
from .policy import Unroutable, route


def deliver(
    event: gateway.Event, config: dict[str, Any], http: gateway.HttpClient, delivery: gateway.DeliveryRef
) -> gateway.DeliveryResult:
    """Send the event; the delivery id is the payload id, so a retry LaunchDarkly already took is
    dropped there rather than counted twice. :class:`gateway.TransportError` propagates (the core
    retries)."""
    try:
        mapping, keys = route(event, config)
    except Unroutable as exc:
        return gateway.Failed(f"cannot import any more since the config changed: {exc}")
    event_key = config["event_key"]
    http.add_secrets(config["access_token"])
    try:
        response = http.post(
            import_url(config["events_url"], mapping),
            json=import_body(event, event_key, keys),
            headers=import_headers(config["access_token"], delivery.id),
        )
    except gateway.TargetNotAllowed as exc:
        return gateway.Failed(f"events_url may not be sent to: {exc}")
    if response.ok:
        contexts = ", ".join(f"{kind} {key}" for kind, key in keys.items())
        warning = metric_missing_warning(http, config, mapping.ld_project)
        return gateway.Delivered(
            warnings=(warning,) if warning else (),
            summary=f"imported as {event_key} into LaunchDarkly "
            f"{mapping.ld_project}/{mapping.ld_environment} for {contexts}",
            details={
                "status": response.status_code,
                "payload_id": delivery.id,
                "ld_project": mapping.ld_project,
                "ld_environment": mapping.ld_environment,
                "context_keys": keys,
            },
        )
    if response.is_retryable:
        return gateway.RetryLater(
            f"LaunchDarkly answered {response.status_code} ({error_detail(response)}); will retry",
            after=response.retry_after,
        )
    return gateway.Failed(_failure_reason(response, mapping))


def _failure_reason(response: gateway.HttpResponse, mapping: Mapping) -> str:
    status, detail = response.status_code, error_detail(response)
    environment = f"{mapping.ld_project}/{mapping.ld_environment}"
    if status == 400:
        return f"LaunchDarkly refused the event as invalid (400: {detail})"
    if status == 401:
        return (
            f"LaunchDarkly refused the access token (401: {detail}): set access_token to a valid "
            "LaunchDarkly access token"
        )
    if status == 403:
        return (
            f"the access token may not import events into {environment} (403: {detail}): give its "
            "role the importEventData action on that environment"
        )
    if status == 404:
        return (
            f"LaunchDarkly has no environment {environment} (404: {detail}): check ld_project and "
            "ld_environment of the mapping"
        )
    if status == 406:
        return (
            f"LaunchDarkly did not accept the import request (406: {detail}): check that events_url "
            "is the events service of your LaunchDarkly instance"
        )
    return f"LaunchDarkly answered {status} ({detail}): check events_url"
