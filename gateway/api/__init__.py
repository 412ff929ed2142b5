"""The admin API under ``/api/v1``: JSON, with ``Authorization: Bearer <GATEWAY_ADMIN_TOKEN>``."""

from __future__ import annotations

from flask import Blueprint, request

from ..admin_token import check_bearer
from ..responses import ALL_METHODS, ApiError, handle_api_error, handle_http_exception, unmatched
from ..state import get_state

bp = Blueprint("gateway_api", __name__, url_prefix="/api/v1")
bp.register_error_handler(ApiError, handle_api_error)
bp.add_url_rule("/<path:path>", "unmatched", unmatched, methods=ALL_METHODS)


@bp.errorhandler(404)
@bp.errorhandler(405)
@bp.errorhandler(400)
def _http_error(exc):
    return handle_http_exception(exc)


@bp.before_request
def require_admin_token():
    state = get_state()
    if state.admin_token_problem:
        raise ApiError(503, f"the admin API is unavailable on this node: {state.admin_token_problem}")
    if not check_bearer(request.headers.get("Authorization"), state.admin_token_hash):
        raise ApiError(401, "missing or wrong admin token: send 'Authorization: Bearer <GATEWAY_ADMIN_TOKEN>'")


def json_body() -> dict:
    """The request's JSON object; 415 or 400 with what is wrong."""
    if not request.is_json:
        raise ApiError(415, f"expected Content-Type application/json, got {request.mimetype or 'none'!r}")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "malformed JSON body")
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


from . import connection, deliveries, events, integrations, openapi, plugins, policy  # noqa: E402,F401  (routes)
