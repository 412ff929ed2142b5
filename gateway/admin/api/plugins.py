"""``GET /api/v1/plugins``."""

from __future__ import annotations

from flask import request

from gateway.admin.plugin_listing import plugin_listing
from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.admin.api.blueprint import bp

TRUE, FALSE = frozenset({"1", "true", "yes"}), frozenset({"", "0", "false", "no"})
from gateway.admin.api.answers import answer


@bp.get("/plugins")
def list_plugins():
    """Installed plugins (``?all=true`` adds the built-in ones), refused ones with why, and those left
    out by ``GATEWAY_PLUGINS``: see :mod:`gateway.admin.plugin_listing`."""
    value = request.args.get("all", "").strip().lower()
    if value not in TRUE | FALSE:
        raise ApiError(400, f"'all' must be true or false, not {request.args.get('all')!r}")
    return answer("PluginList", plugin_listing(get_state().host, include_builtin=value in TRUE))
