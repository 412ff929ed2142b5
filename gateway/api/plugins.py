"""``GET /api/v1/plugins``."""

from __future__ import annotations

from ..state import get_state
from . import bp, serialize
from .answers import answer
from .openapi import config_json_schema


@bp.get("/plugins")
def list_plugins():
    """Installed plugins: key, name, distribution, version, hooks, config JSON Schema, default policy."""
    state = get_state()
    items = [serialize.plugin(p, config_json_schema(p) if p.kind == "integration" else None)
             for p in sorted(state.host.plugins.values(), key=lambda p: p.key)]
    refused = [{"name": r.name, "distribution": r.distribution, "version": r.version, "error": r.error}
               for r in state.host.refused]
    return answer("PluginList", {"items": items, "refused": refused})
