"""``/api/v1/connections/launchdarkly``: the flag-platform API connection (show, connect, disconnect,
rotate the webhook secret, rewire, status). The handlers call :mod:`gateway.admin.connection_actions`, as
the UI does, over :class:`ConnectionService`, which the CLI calls too."""

from __future__ import annotations

from flask import jsonify, request

from gateway.admin import connection_actions
from gateway.flagplatform.checks import REWIRE
from gateway.flagplatform.connection import PLATFORM
from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.runtime.status import connection_status
from gateway.admin.api.blueprint import bp, json_body
from gateway.admin.api.integrations import refresh_param

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
    return jsonify(connection_actions.connect(get_state(), json_body(), "api"))


@bp.delete(PATH)
def disconnect():
    return jsonify(connection_actions.disconnect(get_state(), keep_webhook=_flag("keep_webhook"), origin="api"))


@bp.post(f"{PATH}/rotate-secret")
def rotate_secret():
    return jsonify(connection_actions.rotate_secret(get_state(), "api"))


@bp.post(f"{PATH}/actions/{REWIRE}")
def rewire():
    return jsonify(action=REWIRE, webhook=connection_actions.rewire(get_state(), "api"))


@bp.get(f"{PATH}/status")
def show_connection_status():
    status = connection_status(get_state(), refresh=refresh_param())
    if status is None:
        raise _not_connected()
    return jsonify(status)


@bp.post(f"{PATH}/catch-up")
def catch_up():
    """Reconcile from the audit log now (see :mod:`gateway.runtime.catchup`)."""
    state = get_state()
    if state.connection.current() is None:
        raise _not_connected()
    return jsonify(state.catchup.run("api"))
