"""Importing many Sentry errors per request to the metric import API (the ``deliver_batch`` hook).

The core hands over up to ``batch_size`` due deliveries of one integration, gathered for at most
``batch_delay_seconds``. They are grouped by LaunchDarkly project and environment (one import
endpoint each), and each group is sent as one request whose body lists one metric event per error.

- **Payload id.** One delivery alone is sent under its delivery id (as ``deliver_event`` does);
  several under a UUID derived from their sorted delivery ids. The core hands deliveries it retries
  back together and alone, so a retried request carries the same payload id, and LaunchDarkly drops
  a payload it has already taken instead of counting it twice.
- **Partial refusal.** LaunchDarkly refuses an import with an invalid event as a whole (400, or 413
  when too large). Such a request is split in two and each half sent again, down to the single
  event, which alone is recorded as failed: one bad event never holds up the rest.
- Every other answer applies to the whole group: accepted (each delivered), retryable (each
  retried, together), or refused for a reason that splitting cannot mend (credentials, a missing
  environment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import gateway

from .delivery import failure_reason
from .launchdarkly import error_detail
from .mapping import Mapping
from .metrics import metric_missing_warning
from .payload import import_body, import_headers, import_url
from .policy import Unroutable, route

PAYLOAD_NAMESPACE = uuid.UUID("0b7f4c56-3d2e-4f1a-9a63-8e5c2b1d7a40")
SPLIT_STATUSES = frozenset({400, 413})
"""Answers that refuse the payload as a whole for what is in it: split, and try the halves."""


@dataclass(frozen=True)
class Routed:
    """One delivery of the batch, routed: its item, its mapping and the context keys to send."""

    item: gateway.BatchItem
    mapping: Mapping
    keys: dict[str, str]

    @property
    def delivery_id(self) -> str:
        return self.item.delivery.id


def batch_limits(config: dict[str, Any]) -> gateway.Batching | None:
    """The integration's batching: ``batch_size`` imports per request at most, gathered for at most
    ``batch_delay_seconds``; None (one request per error) when ``batch_size`` is 1."""
    if config["batch_size"] <= 1:
        return None
    return gateway.Batching(max_size=config["batch_size"], max_delay=config["batch_delay_seconds"])


def payload_id(delivery_ids: list[str]) -> str:
    """The payload id of a request carrying these deliveries: the same for the same deliveries."""
    if len(delivery_ids) == 1:
        return delivery_ids[0]
    return str(uuid.uuid5(PAYLOAD_NAMESPACE, ",".join(sorted(delivery_ids))))


def deliver_batch(
    items: list[gateway.BatchItem], config: dict[str, Any], http: gateway.HttpClient
) -> dict[str, gateway.DeliveryResult]:
    """Import the batch's errors, one request per LaunchDarkly project and environment (split
    further when refused for an event in it); an outcome for every delivery."""
    http.add_secrets(config["access_token"])
    outcomes: dict[str, gateway.DeliveryResult] = {}
    groups: dict[tuple[str, str], list[Routed]] = {}
    for item in items:
        try:
            mapping, keys = route(item.event, config)
        except Unroutable as exc:
            outcomes[item.delivery.id] = gateway.Failed(f"cannot import any more since the config changed: {exc}")
            continue
        groups.setdefault((mapping.ld_project, mapping.ld_environment), []).append(Routed(item, mapping, keys))
    warnings: dict[str, str | None] = {}
    for group in groups.values():
        _send(group, config, http, outcomes, warnings)
    return outcomes


def _send(
    group: list[Routed],
    config: dict[str, Any],
    http: gateway.HttpClient,
    outcomes: dict[str, gateway.DeliveryResult],
    warnings: dict[str, str | None],
) -> None:
    """Send ``group`` (one LaunchDarkly environment) as one request, splitting it when refused for
    what it carries; record each delivery's outcome in ``outcomes``."""
    mapping = group[0].mapping
    ids = [routed.delivery_id for routed in group]
    pid = payload_id(ids)
    event_key = config["event_key"]
    body = [entry for routed in group for entry in import_body(routed.item.event, event_key, routed.keys)]
    try:
        response = http.post(
            import_url(config["events_url"], mapping),
            json=body,
            headers=import_headers(config["access_token"], pid),
            deliveries=ids,
        )
    except gateway.TargetNotAllowed as exc:
        _all(outcomes, ids, gateway.Failed(f"events_url may not be sent to: {exc}"))
        return
    except gateway.TransportError as exc:
        _all(outcomes, ids, gateway.RetryLater(f"{exc}; will retry (payload {pid})"))
        return
    if response.ok:
        project = mapping.ld_project
        if project not in warnings:
            warnings[project] = metric_missing_warning(http, config, project)
        warning = warnings[project]
        for routed in group:
            contexts = ", ".join(f"{kind} {key}" for kind, key in routed.keys.items())
            together = f" (in a request of {len(group)}, payload {pid})" if len(group) > 1 else ""
            outcomes[routed.delivery_id] = gateway.Delivered(
                summary=f"imported as {event_key} into LaunchDarkly "
                f"{mapping.ld_project}/{mapping.ld_environment} for {contexts}{together}",
                details={
                    "status": response.status_code,
                    "payload_id": pid,
                    "batch_size": len(group),
                    "ld_project": mapping.ld_project,
                    "ld_environment": mapping.ld_environment,
                    "context_keys": routed.keys,
                },
                warnings=(warning,) if warning else (),
            )
        return
    if response.status_code in SPLIT_STATUSES and len(group) > 1:
        half = len(group) // 2
        _send(group[:half], config, http, outcomes, warnings)
        _send(group[half:], config, http, outcomes, warnings)
        return
    if response.is_retryable:
        _all(outcomes, ids, gateway.RetryLater(
            f"LaunchDarkly answered {response.status_code} ({error_detail(response)}) to the import of "
            f"{len(ids)} event(s) (payload {pid}); will retry", after=response.retry_after))
        return
    _all(outcomes, ids, gateway.Failed(failure_reason(response, mapping)))


def _all(outcomes: dict[str, gateway.DeliveryResult], ids: list[str], outcome: gateway.DeliveryResult) -> None:
    for delivery_id in ids:
        outcomes[delivery_id] = outcome
