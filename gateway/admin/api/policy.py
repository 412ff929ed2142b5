"""The policy simulator: ``POST /api/v1/policy/evaluate`` and ``POST /api/v1/integrations/<id>/explain``."""

from __future__ import annotations

from gateway.admin import operations
from gateway.host.state import get_state
from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api.answers import answer
from gateway.admin.api.integrations import get_integration_or_404


@bp.post("/policy/evaluate")
def evaluate_policy():
    """Evaluate ``policy`` against a webhook body (``event``) or one ``access``; nothing is stored."""
    return answer("PolicyDecision", operations.evaluate_policy(get_state(), json_body()))


@bp.post("/integrations/<integration_id>/explain")
def explain(integration_id: str):
    """The whole chain for this integration (policy, then the plugin's policy hook) for a webhook
    body, without storing or sending anything."""
    state = get_state()
    get_integration_or_404(state, integration_id)
    return answer("Explain", operations.explain(state, integration_id, json_body()))
