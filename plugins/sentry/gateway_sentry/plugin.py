"""The hooks of the Sentry plugin (entry point ``sentry`` in the ``event_gateway`` group)."""

from __future__ import annotations

from typing import Any

import gateway

from . import batch, metrics, policy, projects
from .delivery import deliver
from .receive import read_webhook
from .schema import SentryConfigSchema
from .signature import NO_SECRET, verify_signature

KEY = "sentry"


@gateway.hooks.integration_type
def integration_type() -> gateway.IntegrationType:
    """Sentry errors in, LaunchDarkly metric events out; no flag-platform webhooks."""
    return gateway.IntegrationType(
        key=KEY,
        name="Sentry errors to LaunchDarkly metrics",
        description=(
            "Receives the error events of a Sentry internal integration and imports those that "
            "carry a launchdarklyContext into LaunchDarkly as metric events, so experiments and "
            "guarded rollouts can count errors per flag variation."
        ),
        config_schema=SentryConfigSchema,
        default_policy=[],
        sources=(),
    )


@gateway.hooks.receive_webhook
def receive_webhook(
    request: gateway.InboundRequest, config: dict[str, Any], integration: gateway.IntegrationRef
) -> gateway.Received:
    """Verify the Sentry signature, then read the error event the webhook carries (if any)."""
    verify_signature(request, config.get("client_secret"))
    return read_webhook(request)


@gateway.hooks.check_event
def check_event(
    event: gateway.Event, config: dict[str, Any], integration: gateway.IntegrationRef
) -> gateway.Verdict:
    """Take events with a usable LaunchDarkly context from a mapped Sentry project and environment."""
    return policy.check(event, config)


@gateway.hooks.deliver_event
def deliver_event(
    event: gateway.Event, config: dict[str, Any], http: gateway.HttpClient, delivery: gateway.DeliveryRef
) -> gateway.DeliveryResult:
    """Import the error into the mapped LaunchDarkly environment."""
    return deliver(event, config, http, delivery)


@gateway.hooks.batch_limits
def batch_limits(config: dict[str, Any], integration: gateway.IntegrationRef) -> gateway.Batching | None:
    """Errors are imported in batches of ``batch_size``, gathered for ``batch_delay_seconds``."""
    return batch.batch_limits(config)


@gateway.hooks.deliver_batch
def deliver_batch(
    items: list[gateway.BatchItem],
    config: dict[str, Any],
    http: gateway.HttpClient,
    integration: gateway.IntegrationRef,
) -> dict[str, gateway.DeliveryResult]:
    """Import many errors per request, per LaunchDarkly project and environment."""
    return batch.deliver_batch(items, config, http)


@gateway.hooks.integration_status
def integration_status(
    config: dict[str, Any], http: gateway.HttpClient, integration: gateway.IntegrationRef
) -> list[gateway.StatusCheck]:
    """Whether the client secret is set; for each mapping, whether its LaunchDarkly project and
    environment exist, and whether a LaunchDarkly metric counts the imported errors."""
    return [secret_check(config)] + projects.mapping_checks(config, http) + metrics.status_checks(config, http)


def secret_check(config: dict[str, Any]) -> gateway.StatusCheck:
    """Red until the client secret is set (Sentry shows it only once it has the webhook URL)."""
    if not config.get("client_secret"):
        return gateway.StatusCheck("Sentry client secret", "error", NO_SECRET)
    return gateway.StatusCheck("Sentry client secret", "ok", "set: webhooks are verified with it")


@gateway.hooks.integration_action
def integration_action(
    action: str,
    params: dict[str, Any],
    config: dict[str, Any],
    http: gateway.HttpClient,
    integration: gateway.IntegrationRef,
) -> str:
    """``create_metric``: create the missing metric in ``params["ld_project"]``."""
    if action != metrics.CREATE_METRIC:
        raise gateway.Rejected(
            404, f"unknown action {action!r}; the Sentry plugin offers {metrics.CREATE_METRIC}"
        )
    return metrics.create_metric(config, http, params)
