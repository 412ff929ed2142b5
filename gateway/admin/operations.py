"""The admin actions, shared by the admin API and the web UI: each validates its input, does the
work, and records the action with its origin (:mod:`gateway.host.audit`). Failures raise
:class:`gateway.responses.ApiError` with the status and message the API answers."""

from __future__ import annotations

from typing import Any

import marshmallow

from gateway.host import audit
from gateway.admin import replays
from gateway.admin.schemas import IntegrationCreateSchema, IntegrationUpdateSchema
from gateway.runtime.checks import CheckError, run_action
from gateway.runtime.status import integration_status as stored_status
from gateway.runtime.status import run_integration_checks
from gateway.inbound.decisions import decide, preview_cooldown
from gateway.delivery.sample import CannotSend, TestSend, send_test_event
from gateway.events import Access, Event
from gateway.host.inbound_request import Rejected
from gateway.host.builtin.launchdarkly import normalize_audit_entry
from gateway.host.plugins import MissingHook
from gateway.responses import ApiError
from gateway.host.state import GatewayState
from gateway.store.base import now
from gateway.store.deliveries import AgainResult, DeliveryRow, NotRetryable, UnknownEvents
from gateway.store.integrations import IntegrationRow
from gateway.timestamps import parse_timestamp
from gateway.validation import InvalidInput, flatten_errors

MAX_EVENT_IDS = 1000


def get_integration_or_404(state: GatewayState, integration_id: str) -> IntegrationRow:
    row = state.db.integrations.get(integration_id)
    if row is None:
        raise ApiError(404, f"no integration {integration_id!r}")
    return row


def _load(schema: marshmallow.Schema, data: dict[str, Any], check_rest) -> dict[str, Any]:
    """``data`` loaded by ``schema``. When its own fields are wrong, ``check_rest`` is still given the
    plugin, config and policy it has, so that one answer names every error of the request."""
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        errors = flatten_errors(exc.messages)
    rest = {key: data[key] for key in ("plugin", "config", "policy")
            if key in data and not any(path == key or path.startswith(key + ".") for path in errors)}
    try:
        check_rest(rest)
    except InvalidInput as exc:
        for path, messages in exc.errors.items():
            errors.setdefault(path, []).extend(messages)
    except ApiError:
        pass  # the integration itself is gone: the request's own errors say enough
    raise ApiError(400, "invalid integration", errors)


# integrations ----------------------------------------------------------------------------------

def create_integration(state: GatewayState, body: dict[str, Any], origin: str) -> IntegrationRow:
    def check_rest(rest: dict[str, Any]) -> None:
        if "plugin" in rest:
            state.integrations.check_new(rest, with_config="config" in rest or "config" not in body)

    data = _load(IntegrationCreateSchema(), body, check_rest)
    entry = audit.pending("integration.create", origin, integration=None, plugin=data.get("plugin"),
                          enabled=data.get("enabled", True), complete=lambda new_id: {"integration": new_id})
    try:
        row = state.integrations.create(data, audit=entry)
    except InvalidInput as exc:
        raise ApiError(400, "invalid integration", exc.errors) from None
    entry.log()
    return row


def update_integration(state: GatewayState, integration_id: str, body: dict[str, Any], origin: str) -> IntegrationRow:
    row = get_integration_or_404(state, integration_id)
    data = _load(IntegrationUpdateSchema(), body,
                 lambda rest: state.integrations.update(row, {k: v for k, v in rest.items() if k != "plugin"},
                                                        check_only=True))
    entry = audit.pending("integration.update", origin, integration=row.id, changed=",".join(sorted(data)),
                          complete=lambda changed: {} if changed else None)
    try:
        row = state.integrations.update(row, data, audit=entry)
    except InvalidInput as exc:
        raise ApiError(400, "invalid integration", exc.errors) from None
    if data.get("enabled"):
        state.notify_new_work()  # held deliveries resume
    entry.log()  # an update that changes nothing (an empty body) is no change to record
    return row


def delete_integration(state: GatewayState, integration_id: str, origin: str) -> None:
    get_integration_or_404(state, integration_id)
    entry = audit.pending("integration.delete", origin, integration=integration_id,
                          complete=lambda removed: {} if removed else None)
    try:
        state.integrations.remove(integration_id, audit=entry)
    except InvalidInput as exc:
        raise ApiError(409, exc.errors["integration"][0]) from None
    entry.log()


def integration_status(state: GatewayState, integration_id: str, *, refresh: bool = False) -> dict[str, Any]:
    """The integration's stored check results (the background checks keep them fresh); ``refresh``
    runs the checks now."""
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    try:
        return stored_status(state, active, refresh=refresh)
    except CheckError as exc:
        raise ApiError(exc.status, exc.message) from None


def integration_action(state: GatewayState, integration_id: str, action: str, params: dict[str, Any],
                       origin: str) -> str:
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    try:
        message = run_action(state, active, action, params)
    except CheckError as exc:
        audit.record("integration.action", origin, integration=integration_id, action=action,
                     result=f"refused ({exc.status})")
        raise ApiError(exc.status, exc.message) from None
    audit.record("integration.action", origin, integration=integration_id, action=action, result="done")
    # The action changed what the checks look at: store fresh results, so that the status served
    # next (API, UI, metrics) shows its effect rather than the state before it.
    try:
        run_integration_checks(state, active)
    except CheckError:
        pass  # the checks cannot run now; the background checks will try again
    return message


# deliveries ------------------------------------------------------------------------------------

def _since(value: Any, name: str = "since") -> float:
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid {name}: {exc}", {name: [str(exc)]}) from None


def replay_options(data: dict[str, Any]) -> dict[str, Any]:
    """A replay request's ``since`` or ``event_ids``, checked."""
    unknown = sorted(set(data) - {"since", "event_ids"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; give 'since' or 'event_ids'")
    if ("since" in data) == ("event_ids" in data):
        raise ApiError(400, "give exactly one of 'since' (dead deliveries since a time) or 'event_ids' (a list)")
    if "since" in data:
        return {"since": _since(data["since"])}
    ids = data["event_ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "event_ids must be a non-empty list of event ids",
                       {"event_ids": ["must be a non-empty list of strings"]})
    if len(ids) > MAX_EVENT_IDS:
        raise ApiError(400, f"at most {MAX_EVENT_IDS} event ids at a time, got {len(ids)}")
    return {"event_ids": ids}


def _again(result: AgainResult) -> dict[str, Any]:
    return dict(event_id=result.event_id, outcome=result.outcome, reason=result.reason,
                delivery_id=result.delivery_id, previous_status=result.previous_status,
                previous_reason=result.previous_reason)


def replay_integration(state: GatewayState, integration_id: str, data: dict[str, Any], origin: str) -> dict[str, Any]:
    """Decide again for an integration's dead deliveries since a time, or for given events, with its
    current policy, plugin check and cooldown (:mod:`gateway.admin.replays`): those it takes now are
    queued, due now; those it skips stay as they were, the new decision in their history."""
    row = get_integration_or_404(state, integration_id)
    options = replay_options(data)
    event_ids = (options["event_ids"] if "event_ids" in options
                 else state.db.deliveries.dead_event_ids(row.id, options["since"]))
    active = state.integrations.active(row)
    selection = "since" if "since" in options else f"{len(options['event_ids'])} event(s)"
    entry = audit.pending("integration.replay", origin, integration=row.id, selection=selection,
                          complete=lambda results: {
                              "requeued": sum(1 for r in results if r.outcome == "queued"),
                              "skipped": sum(1 for r in results if r.outcome == "skipped")})
    try:
        results = replays.replay(state, active, event_ids, origin, audit=entry) if event_ids else []
    except UnknownEvents as exc:
        raise ApiError(404, f"{exc}; nothing was re-queued", {"event_ids": [str(exc)]}) from None
    queued = [r for r in results if r.outcome == "queued"]
    if queued:
        state.notify_new_work()
    answer = dict(integration_id=row.id, requeued=len(queued), created=sum(1 for r in queued if r.created),
                  skipped=sum(1 for r in results if r.outcome == "skipped"),
                  in_flight=sum(1 for r in results if r.outcome == "in_flight"), enabled=row.enabled,
                  results=[_again(r) for r in results])
    if event_ids:
        entry.log()
    else:  # nothing to decide again: nothing changed
        audit.record("integration.replay", origin, integration=row.id, selection=selection, requeued=0, skipped=0)
    return answer


def _override_event_id(data: dict[str, Any]) -> str:
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ApiError(400, "event_id must be an event's id", {"event_id": ["required: a non-empty string"]})
    return event_id


def override_preview(state: GatewayState, integration_id: str, event_id: str) -> replays.Preview:
    """What sending the event to the integration despite its denials would override (nothing done)."""
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    try:
        return replays.preview(state, active, event_id)
    except UnknownEvents:
        raise ApiError(404, f"no event {event_id!r}") from None


def override_delivery(state: GatewayState, integration_id: str, data: dict[str, Any], origin: str) -> dict[str, Any]:
    """Send a stored event to the integration despite the denials ``confirm`` names (``policy``,
    ``plugin``, ``cooldown``): 409 when they are not exactly the current ones, when nothing denies
    it, or when a denial may not be overridden; recorded in the event's history and the audit log."""
    row = get_integration_or_404(state, integration_id)
    unknown = sorted(set(data) - {"event_id", "confirm"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; give 'event_id' and 'confirm'",
                       {name: ["unknown field"] for name in unknown})
    event_id = _override_event_id(data)
    confirm = data.get("confirm")
    if (not isinstance(confirm, list) or not confirm
            or not all(isinstance(c, str) and c in replays.OVERRIDABLE_STAGES for c in confirm)):
        raise ApiError(400, "confirm must list the denials to send the event despite, by stage: "
                            + ", ".join(replays.OVERRIDABLE_STAGES),
                       {"confirm": ["required: a non-empty list of " + ", ".join(replays.OVERRIDABLE_STAGES)]})
    active = state.integrations.active(row)
    entry = audit.pending("integration.override", origin, integration=row.id, event=event_id,
                          overrode=",".join(confirm), complete=lambda results: {"result": results[0].outcome})
    try:
        result = replays.override(state, active, event_id, confirm, origin, audit=entry)
    except UnknownEvents:
        raise ApiError(404, f"no event {event_id!r}") from None
    except replays.OverrideRefused as exc:
        audit.record("integration.override", origin, integration=row.id, event=event_id,
                     overrode=",".join(confirm), result=f"refused ({exc.status})")
        raise ApiError(exc.status, exc.message, {"confirm": [exc.message]}) from None
    if result.outcome == "queued":
        state.notify_new_work()
    entry.log()
    return dict(integration_id=row.id, enabled=row.enabled, **_again(result),
                overrode=[{"stage": stage, "reason": reason} for stage, reason in result.overrode])


def retry_delivery(state: GatewayState, delivery_id: str, origin: str) -> DeliveryRow:
    entry = audit.pending("delivery.retry", origin, delivery=delivery_id, integration=None,
                          complete=lambda row: {"integration": row.integration_id})
    try:
        row = state.db.deliveries.retry(delivery_id, now(), audit=entry)
    except NotRetryable as exc:
        raise ApiError(409, f"delivery {delivery_id} cannot be retried: {exc}") from None
    if row is None:
        raise ApiError(404, f"no delivery {delivery_id!r}")
    state.notify_new_work()
    entry.log()
    return row


def test_integration(state: GatewayState, integration_id: str, origin: str) -> TestSend:
    row = get_integration_or_404(state, integration_id)
    entry = audit.pending("integration.test", origin, integration=row.id, event=None,
                          complete=lambda event_id: {"event": event_id})
    try:
        sent = send_test_event(state, row, audit=entry)
    except MissingHook:
        raise ApiError(404, f"plugin {row.plugin!r} has no test event (it does not implement 'test_event')") from None
    except CannotSend as exc:
        raise ApiError(exc.status, exc.message) from None
    entry.log()
    return sent



# policies --------------------------------------------------------------------------------------

def webhook_event(body: Any) -> Event:
    """A flag-platform webhook body as the normalized event; 400 when it is not one."""
    try:
        return normalize_audit_entry(body)
    except Rejected as exc:
        raise ApiError(400, f"event: {exc.message}", {"event": [exc.message]}) from None


def evaluate_policy(state: GatewayState, body: dict[str, Any]) -> dict[str, Any]:
    """``policy`` against a webhook body (``event``) or one ``access``; nothing is stored."""
    unknown = sorted(set(body) - {"policy", "event", "access"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; give 'policy' and 'event' or 'access'",
                       {name: ["unknown field"] for name in unknown})
    if "policy" not in body:
        raise ApiError(400, "missing 'policy'", {"policy": ["required"]})
    try:
        policy = state.integrations.compile(body["policy"])
    except InvalidInput as exc:
        raise ApiError(400, "invalid policy", exc.errors) from None
    if ("event" in body) == ("access" in body):
        raise ApiError(400, "give exactly one of 'event' (a webhook body) or 'access' ({action, resource})")
    if "access" in body:
        access = body["access"]
        if not (isinstance(access, dict) and isinstance(access.get("action"), str) and access["action"]
                and isinstance(access.get("resource"), str) and access["resource"]):
            raise ApiError(400, "access must be {\"action\": string, \"resource\": string}, both non-empty",
                           {"access": ["must be {action, resource}, non-empty strings"]})
        decision = policy.evaluate([Access(access["action"], access["resource"])])
    else:
        event = webhook_event(body["event"])
        decision = policy.evaluate(event.accesses, tags=event.scope_tags, attributes=event.scope_attributes)
    return dict(allowed=decision.allowed, reason=decision.reason, statement=decision.statement)


def explain(state: GatewayState, integration_id: str, body: Any) -> dict[str, Any]:
    """The whole chain for this integration (its policy, then the plugin's check) for a webhook
    body, without storing or sending anything."""
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    event = webhook_event(body)
    decision = preview_cooldown(decide(event, active, state.host), state.db.cooldowns)
    return dict(
        integration_id=integration_id, enabled=active.row.enabled,
        outcome="queued" if decision.queued else "skipped", reason=decision.reason,
        stages=[{"stage": s.name, "took": s.took, "reason": s.reason} for s in decision.stages],
    )
