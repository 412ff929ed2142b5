"""The admin API's blueprint: ``/api/v1``, the token check (the admin token or a named token,
:mod:`gateway.admin.tokens`), the role each route needs (:mod:`gateway.admin.roles`), and the strict JSON
body of a request."""

from __future__ import annotations

from flask import Blueprint, g, request

from gateway import strict_json
from gateway.admin.roles import needed, refusal
from gateway.admin.tokens import bearer_token, identify
from gateway.runtime.auth_throttle import throttled_answer
from gateway.inbound.request_body import read_body
from gateway.responses import ALL_METHODS, ApiError, answer_errors_as_json, answer_options, refuse_nul, unmatched
from gateway.host.state import get_state

bp = Blueprint("gateway_api", __name__, url_prefix="/api/v1")
answer_errors_as_json(bp)
bp.add_url_rule("/<path:path>", "unmatched", unmatched, methods=ALL_METHODS)


@bp.before_request
def require_admin_token():
    state = get_state()
    if state.admin_token_problem:
        raise ApiError(503, f"the admin API is unavailable on this node: {state.admin_token_problem}")
    wait = state.auth_throttle.wait("api", request.remote_addr)
    if wait is not None:
        return throttled_answer(wait)
    header = request.headers.get("Authorization")
    principal = identify(state, bearer_token(header), "api")
    if principal is None:
        if header:  # a guess (a request without any is no attempt to get in)
            state.auth_throttle.failed("api", request.remote_addr)
        raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer <token>' (the admin token "
                            "or a named token)")
    g.principal = principal
    refuse_nul()
    role = needed(request.endpoint)
    if request.method != "OPTIONS" and not principal.may(role):  # OPTIONS only says what the route takes
        raise refusal(role, principal)
    read_body(state.settings.max_api_body_bytes, "GATEWAY_MAX_API_BODY_BYTES")
    return answer_options()


def json_body() -> dict:
    """The request's JSON object, read strictly (:mod:`gateway.strict_json`); 415 or 400 with what is wrong."""
    if not request.is_json:
        raise ApiError(415, f"expected Content-Type application/json, got {request.mimetype or 'none'!r}")
    try:
        data = strict_json.loads(request.get_data(cache=True))
    except strict_json.InvalidJson as exc:
        raise ApiError(400, exc.message) from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data
