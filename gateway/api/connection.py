"""``/api/v1/connections/launchdarkly``: the flag-platform API connection (show, connect, disconnect,
rotate the webhook secret, rewire, status). The handlers call :class:`ConnectionService`, which the
CLI and the UI call too."""

from __future__ import annotations

from flask import jsonify, request

from ..flagplatform.checks import REWIRE
from ..flagplatform.connection import PLATFORM, ConnectionProblem
from ..responses import ApiError
from ..state import get_state
from ..status import connection_status
from ..validation import InvalidInput
from . import bp, json_body
from .integrations import refresh_param

PATH = f"/connections/{PLATFORM}"


def _not_connected() -> ApiError:
    return ApiError(404, "the gateway is not connected to the flag platform: PUT /api/v1/connections/launchdarkly "
                         'with {"api_token": ..., "public_url": ...}')


def _flag(name: str) -> bool:
    value = request.args.get(name)
    if value is None or value.lower() in ("0", "false", "no", ""):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    raise ApiError(400, f"{name} must be 1 or 0, got {value!r}")


@bp.get(PATH)
def show_connection():
    shown = get_state().connection.public()
    if shown is None:
        raise _not_connected()
    return jsonify(shown)


@bp.put(PATH)
def connect():
    state = get_state()
    try:
        result = state.connection.connect(json_body())
    except InvalidInput as exc:
        raise ApiError(400, "invalid connection", exc.errors) from None
    except ConnectionProblem as exc:
        raise ApiError(exc.status, exc.message) from None
    return jsonify(result)


@bp.delete(PATH)
def disconnect():
    state = get_state()
    try:
        return jsonify(state.connection.disconnect(keep_webhook=_flag("keep_webhook")))
    except ConnectionProblem as exc:
        raise ApiError(exc.status, exc.message) from None


@bp.post(f"{PATH}/rotate-secret")
def rotate_secret():
    try:
        return jsonify(get_state().connection.rotate_secret())
    except ConnectionProblem as exc:
        raise ApiError(exc.status, exc.message) from None


@bp.post(f"{PATH}/actions/{REWIRE}")
def rewire():
    try:
        return jsonify(action=REWIRE, webhook=get_state().connection.rewire())
    except ConnectionProblem as exc:
        raise ApiError(exc.status, exc.message) from None


@bp.get(f"{PATH}/status")
def show_connection_status():
    status = connection_status(get_state(), refresh=refresh_param())
    if status is None:
        raise _not_connected()
    return jsonify(status)
