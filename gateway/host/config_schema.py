"""The JSON Schema of a plugin's config, generated from its marshmallow schema (apispec): for the admin
API, the web UI's forms and the conformance check."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields

from gateway.host.plugins import LoadedPlugin

OPENAPI_VERSION = "3.0.3"


def _inline(node: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen:  # a recursive schema: stop here
                return {"type": "object"}
            return _inline(copy.deepcopy(components[name]), components, seen + (name,))
        return {k: _inline(v, components, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, components, seen) for v in node]
    return node


@lru_cache(maxsize=64)
def _schema_to_json_schema(schema_class: type) -> dict[str, Any]:
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec("config", "1", OPENAPI_VERSION, plugins=[marshmallow_plugin])
    marshmallow_plugin.map_to_openapi_type(fields.Url, "string", "uri")  # JSON Schema's name (apispec says "url")
    result = marshmallow_plugin.converter.schema2jsonschema(schema_class)
    components = spec.to_dict().get("components", {}).get("schemas", {})
    return _inline(result, components)


def config_json_schema(plugin: LoadedPlugin) -> dict[str, Any]:
    """JSON Schema of a plugin's config; secret fields are ``writeOnly``."""
    return copy.deepcopy(_schema_to_json_schema(plugin.declaration.config_schema))
