"""Rows as the API shows them: ISO 8601 times, secrets masked."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from gateway.host.state import GatewayState
from gateway.store.counting import Total
from gateway.store.decision_history import HistoryEntry
from gateway.store.deliveries import DeliveryRow
from gateway.store.events import EventRow
from gateway.store.integrations import IntegrationRow


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def integration(state: GatewayState, row: IntegrationRow) -> dict[str, Any]:
    out = {
        "id": row.id, "plugin": row.plugin, "name": row.name, "enabled": row.enabled,
        "config": state.integrations.public_config(row), "policy": row.policy,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }
    plugin = state.host.plugins.get(row.plugin)
    if plugin is not None and plugin.has_hook("receive_webhook"):
        # From GATEWAY_PUBLIC_URL, never from the request's Host header (which the sender chooses).
        out["webhook_url"] = (state.settings.public_url or "") + f"/webhooks/integrations/{row.id}"
    return out


def attempt(a) -> dict[str, Any]:
    return {"number": a.number, "worker": a.worker, "started_at": iso(a.started_at),
            "duration_ms": a.duration_ms, "outcome": a.outcome, "reason": a.reason, "http": a.http}


def delivery(d: DeliveryRow, *, with_attempts: bool = True) -> dict[str, Any]:
    out = {
        "id": d.id, "event_id": d.event_id, "integration_id": d.integration_id,
        "integration_name": d.integration_name, "plugin": d.plugin, "status": d.status,
        "reason": d.reason, "attempts": d.attempts, "next_attempt_at": iso(d.next_attempt_at),
        "summary": d.summary, "details": d.details,
        "warnings": list((d.details or {}).get("warnings") or []) if isinstance(d.details, dict) else [],
        "created_at": iso(d.created_at), "updated_at": iso(d.updated_at),
    }
    if with_attempts:
        out["attempt_log"] = [attempt(a) for a in d.attempt_log]
    return out


def event_detail(state: GatewayState, row: EventRow, *, with_raw: bool = True) -> dict[str, Any]:
    """An event with the normalized form, (the raw payload,) and each integration's decision and attempts."""
    out = event_summary(row)
    out["event"] = row.body
    if with_raw:
        out["raw"] = row.raw
    out["decisions"] = [delivery(d) for d in state.db.deliveries.for_event(row.id)]
    out["history"] = [history_entry(e) for e in state.db.history.for_event(row.id)]
    return out


def history_entry(e: HistoryEntry) -> dict[str, Any]:
    return {"integration_id": e.integration_id, "integration_name": e.integration_name, "action": e.action,
            "origin": e.origin, "at": iso(e.created_at), "outcome": e.outcome, "reason": e.reason,
            "overrode": e.overrode, "previous_status": e.previous_status, "previous_reason": e.previous_reason,
            "delivery_id": e.delivery_id}


def total(found: Total) -> dict[str, Any]:
    return {"count": found.count, "more": found.more, "counted_back_to": iso(found.counted_back_to)}


def event_summary(row: EventRow) -> dict[str, Any]:
    return {
        "id": row.id, "source": row.source, "source_id": row.source_id,
        "integration_id": row.integration_id, "kind": row.kind, "title": row.title,
        "occurred_at": iso(row.occurred_at), "received_at": iso(row.received_at),
        "received_via": row.body.get("received_via") or "webhook",
    }
