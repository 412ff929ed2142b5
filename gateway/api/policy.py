"""The policy simulator: ``POST /api/v1/policy/evaluate`` and ``POST /api/v1/integrations/<id>/explain``."""

from __future__ import annotations

from ..decisions import decide
from ..events import Access
from ..inbound import Rejected
from ..launchdarkly import normalize_audit_entry
from ..responses import ApiError
from ..state import get_state
from ..validation import InvalidInput
from . import bp, json_body
from .answers import answer
from .integrations import get_integration_or_404


def _event(body):
    try:
        return normalize_audit_entry(body)
    except Rejected as exc:
        raise ApiError(400, f"event: {exc.message}", {"event": [exc.message]}) from None


@bp.post("/policy/evaluate")
def evaluate_policy():
    """Evaluate ``policy`` against a webhook body (``event``) or one ``access``; nothing is stored."""
    state = get_state()
    body = json_body()
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
        event = _event(body["event"])
        decision = policy.evaluate(event.accesses, tags=event.scope_tags, attributes=event.scope_attributes)
    return answer("PolicyDecision", {"allowed": decision.allowed, "reason": decision.reason, "statement": decision.statement})


@bp.post("/integrations/<integration_id>/explain")
def explain(integration_id: str):
    """The whole chain for this integration (policy, then the plugin's policy hook) for a webhook
    body, without storing or sending anything."""
    state = get_state()
    active = state.integrations.active(get_integration_or_404(state, integration_id))
    event = _event(json_body())
    decision = decide(event, active, state.host)
    return answer("Explain", {
        "integration_id": integration_id, "enabled": active.row.enabled,
        "outcome": "queued" if decision.queued else "skipped", "reason": decision.reason,
        "stages": [{"stage": s.name, "took": s.took, "reason": s.reason} for s in decision.stages],
    })
