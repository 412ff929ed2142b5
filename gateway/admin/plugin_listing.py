"""The list of plugins, the same for ``GET /api/v1/plugins`` and ``event-gateway plugins``.

One shape, whatever is asked: ``{"items": [...], "refused": [...], "filtered": [...]}``. ``items``
are the loaded plugins (built-in ones only when asked), each with ``key`` (what integrations and the
API name the plugin by), ``name`` (its display name, from its declaration) and ``entry_point`` (the
entry-point name ``GATEWAY_PLUGINS`` lists; null for built-in ones). Refused and filtered-out plugins
were never declared, so they have an ``entry_point`` and no ``name``.
"""

from __future__ import annotations

from typing import Any

from gateway.host.config_schema import config_json_schema
from gateway.host.plugins import OPTIONAL_HOOKS, LoadedPlugin, PluginHost


def plugin_item(plugin: LoadedPlugin) -> dict[str, Any]:
    """One loaded plugin, as both the API and the CLI show it."""
    declaration = plugin.declaration
    item: dict[str, Any] = {
        "key": plugin.key, "name": declaration.name, "entry_point": None if plugin.builtin else plugin.name,
        "kind": plugin.kind, "distribution": plugin.distribution, "version": plugin.version,
        "hooks": plugin.hooks, "builtin": plugin.builtin,
    }
    if plugin.kind == "integration":
        item.update(
            description=declaration.description, config_schema=config_json_schema(plugin),
            default_policy=declaration.default_policy,
            optional_hooks={hook: plugin.has_hook(hook) for hook in OPTIONAL_HOOKS},
            sources=list(declaration.sources),
        )
    return item


def plugin_listing(host: PluginHost, *, include_builtin: bool = False) -> dict[str, Any]:
    """Loaded plugins (by key; built-in ones with ``include_builtin``), refused ones with why, and
    those left out by ``GATEWAY_PLUGINS``."""
    return {
        "items": [plugin_item(p) for p in sorted(host.plugins.values(), key=lambda p: p.key)
                  if include_builtin or not p.builtin],
        "refused": [{"entry_point": r.name, "distribution": r.distribution, "version": r.version,
                     "error": r.error} for r in host.refused],
        "filtered": [{"entry_point": f.name, "distribution": f.distribution, "version": f.version,
                      "reason": "not listed in GATEWAY_PLUGINS"} for f in host.filtered],
    }
