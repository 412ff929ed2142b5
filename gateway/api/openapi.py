"""``GET /api/v1/openapi.json`` and the plugins' config JSON Schemas, generated from the same
marshmallow schemas that validate input (apispec)."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import jsonify

from ..flagplatform.connection import ConnectionSchema
from ..version import __version__
from ..plugins import LoadedPlugin
from . import bp, schemas

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
    result = marshmallow_plugin.converter.schema2jsonschema(schema_class)
    components = spec.to_dict().get("components", {}).get("schemas", {})
    return _inline(result, components)


def config_json_schema(plugin: LoadedPlugin) -> dict[str, Any]:
    """JSON Schema of a plugin's config; secret fields are ``writeOnly``."""
    return copy.deepcopy(_schema_to_json_schema(plugin.declaration.config_schema))


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


ERRORS = {
    "400": _json("Error", "invalid input; `errors` maps field paths to messages"),
    "401": _json("Error", "missing or wrong admin token"),
}


def _op(summary: str, responses: dict[str, Any], body: str | None = None, params: list | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **ERRORS}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, kind: str = "string", description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="Flag Event Gateway admin API", version=__version__, openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": "Every request needs `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name in ("PolicyStatement", "IntegrationCreate", "IntegrationUpdate", "Integration", "Plugin",
                 "Attempt", "Delivery", "DeliveryPage", "Replay", "ReplayResult", "TestSend", "EventSummary", "EventDetail", "EventPage", "PolicyEvaluate", "Error"):
        spec.components.schema(name, schema=getattr(schemas, f"{name}Schema"))
    integration_id = [_path_param("integration_id")]
    spec.path("/api/v1/plugins", operations={"get": _op("installed plugins", {"200": _json("Plugin")})})
    spec.path("/api/v1/integrations", operations={
        "get": _op("list integrations", {"200": _json("Integration")}),
        "post": _op("create an integration", {"201": _json("Integration")}, body="IntegrationCreate"),
    })
    spec.path("/api/v1/integrations/{integration_id}", operations={
        "get": _op("show an integration", {"200": _json("Integration"), "404": _json("Error")}, params=integration_id),
        "patch": _op("change an integration", {"200": _json("Integration"), "404": _json("Error")},
                     body="IntegrationUpdate", params=integration_id),
        "delete": _op("remove an integration", {"204": {"description": "removed"}, "404": _json("Error")}, params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/explain", operations={
        "post": _op("the decision chain for a webhook body, without storing or sending", {"200": {"description": "the stages"}},
                    params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/status", operations={
        "get": _op("the stored result of the plugin's checks of this integration (run in the background)",
                   {"200": {"description": "checks"}}, params=integration_id + [
                       _query("refresh", description="1 runs the checks now; otherwise the stored result is served")]),
    })
    spec.path("/api/v1/integrations/{integration_id}/actions/{action}", operations={
        "post": _op("run an action the status checks offer", {"200": {"description": "what was done"}},
                    params=integration_id + [_path_param("action")]),
    })
    delivery_id = [_path_param("delivery_id")]
    spec.path("/api/v1/deliveries", operations={
        "get": _op("deliveries, newest first (without attempts)", {"200": _json("DeliveryPage")}, params=[
            _query("integration", description="an integration id"),
            _query("status", description="pending, in_flight, retrying, delivered, skipped or dead"),
            _query("since", description="created at or after: ISO 8601 or seconds since the epoch"),
            _query("limit", "integer", "1 to 200, default 50"), _query("cursor", description="next_cursor of the previous page")]),
    })
    spec.path("/api/v1/deliveries/{delivery_id}", operations={
        "get": _op("a delivery with every attempt", {"200": _json("Delivery"), "404": _json("Error")}, params=delivery_id),
    })
    spec.path("/api/v1/deliveries/{delivery_id}/retry", operations={
        "post": _op("make a dead, retrying or pending delivery due now",
                    {"200": _json("Delivery"), "404": _json("Error"), "409": _json("Error", "in flight, delivered or skipped")},
                    params=delivery_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/replay", operations={
        "post": _op("re-queue dead deliveries since a time, or the deliveries of given events",
                    {"200": _json("ReplayResult"), "404": _json("Error", "no such integration, or unknown event ids")},
                    body="Replay", params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/test", operations={
        "post": _op("send the plugin's test event through the delivery path now and answer the outcome",
                    {"200": _json("TestSend"), "404": _json("Error", "no such integration, or the plugin has no test event"),
                     "409": _json("Error", "the integration cannot be used")},
                    params=integration_id),
    })
    spec.path("/api/v1/events", operations={
        "get": _op("events, newest first", {"200": _json("EventPage")}, params=[
            _query("limit", "integer", "1 to 200, default 50"), _query("cursor", description="next_cursor of the previous page"),
            _query("source"), _query("kind")]),
    })
    spec.path("/api/v1/events/{event_id}", operations={
        "get": _op("an event with each integration's decision and attempts", {"200": _json("EventDetail"), "404": _json("Error")},
                   params=[_path_param("event_id")]),
    })
    spec.path("/api/v1/policy/evaluate", operations={
        "post": _op("evaluate a policy against an event or an access", {"200": {"description": "decision"}}, body="PolicyEvaluate"),
    })
    spec.components.schema("ConnectionInput", schema=ConnectionSchema)
    refresh = [_query("refresh", description="1 runs the checks now; otherwise the stored result is served")]
    base = "/api/v1/connections/launchdarkly"
    spec.path(base, operations={
        "get": _op("the flag-platform connection (secrets masked)", {"200": {"description": "connection"},
                                                                     "404": _json("Error", "not connected")}),
        "put": _op("connect, or change the connection, and wire the webhook",
                   {"200": {"description": "connection and what was done to the webhook"},
                    "400": _json("Error", "invalid input, or the platform refused"),
                    "502": _json("Error", "the platform could not be reached")}, body="ConnectionInput"),
        "delete": _op("disconnect (deletes the webhook unless keep_webhook=1)",
                      {"200": {"description": "what was done"}, "404": _json("Error"), "502": _json("Error")},
                      params=[_query("keep_webhook", description="1 leaves the webhook in the flag platform")]),
    })
    spec.path(base + "/status", operations={
        "get": _op("the stored checks of the connection and its webhook",
                   {"200": {"description": "checks"}, "404": _json("Error")}, params=refresh),
    })
    spec.path(base + "/rotate-secret", operations={
        "post": _op("a new webhook secret; the previous one is accepted for GATEWAY_WEBHOOK_SECRET_GRACE_SECONDS",
                    {"200": {"description": "rotated"}, "404": _json("Error"), "409": _json("Error"),
                     "502": _json("Error")}),
    })
    spec.path(base + "/actions/rewire", operations={
        "post": _op("create or update the webhook again", {"200": {"description": "what was done"},
                                                           "404": _json("Error"), "502": _json("Error")}),
    })
    spec.path("/api/v1/openapi.json", operations={"get": _op("this document", {"200": {"description": "OpenAPI"}})})
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_spec())
