"""``GET /api/v1/openapi.json``, generated from the same marshmallow schemas that validate input
(apispec); the plugins' config JSON Schemas come from :mod:`gateway.host.config_schema`."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import jsonify

from gateway.flagplatform.connection import ConnectionSchema
from gateway.host.config_schema import OPENAPI_VERSION
from gateway.host.state import get_state
from gateway.store.deliveries import STATUSES
from gateway.version import __version__
from gateway.admin.api.blueprint import bp
from gateway.admin import schemas
from gateway.admin.api.paging import MAX_LIMIT
from gateway.admin.schemas import SINCE

def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


# Every operation can answer these; operations with a body or a path parameter add their own below.
ERRORS = {
    "400": _error("invalid input (a query parameter, or the body); `errors` maps field paths to messages"),
    "401": _error("missing or wrong token"),
    "403": _error("the token's role does not allow this; the message names the role needed"),
    "429": {**_json("Error", "too many failed authentications from this client address; try again after Retry-After"),
            "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
    "503": {**_json("DatabaseUnavailable", "the database is unavailable; nothing was done, try again after Retry-After"),
            "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
}
BODY_ERRORS = {
    "413": _error("the body is larger than GATEWAY_MAX_API_BODY_BYTES"),
    "415": _error("the body is not application/json"),
}


def _op(summary: str, responses: dict[str, Any], body: str | None = None, params: list | None = None,
        body_required: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ERRORS, **responses}}
    if body:
        op["requestBody"] = {"required": body_required,
                             "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
        op["responses"].update(BODY_ERRORS)
    if params:
        op["parameters"] = params
        if any(p["in"] == "path" for p in params):
            op["responses"].setdefault("404", _error("no such resource"))
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
               f"page size, 1 to {MAX_LIMIT} (plain decimal digits)")
REFRESH = _query("refresh", {"type": "string", "enum": ["0", "1"]},
                 "1 runs the checks now; otherwise the stored result is served")
CURSOR = _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page, unchanged")
COMPONENTS = (
    "PolicyStatement", "IntegrationCreate", "IntegrationUpdate", "Integration", "IntegrationList", "Plugin",
    "RefusedPlugin", "FilteredPlugin", "PluginList", "Check", "Status", "ActionParams", "ActionResult", "Attempt", "Delivery",
    "Total", "DeliveryPage", "Replay", "Denial", "DecidedAgain", "ReplayResult", "Override", "OverrideResult",
    "HistoryEntry", "TestSend", "EventSummary", "EventDetail", "EventPage", "Access",
    "AuditEntry", "TokenCreate", "Token", "TokenList", "TokenCreated", "AuditLogEntry", "AuditLogPage",
    "PolicyEvaluate", "PolicyDecision", "Stage", "Explain", "Error", "DatabaseUnavailable",
)


def _components(document: dict[str, Any], integration_plugins: list[str]) -> None:
    """What marshmallow fields cannot say: one-of rules, the installed plugins, open objects."""
    schemas = document["components"]["schemas"]
    schemas["IntegrationCreate"]["properties"]["plugin"]["enum"] = integration_plugins or [""]
    schemas["Replay"]["oneOf"] = [{"required": ["since"]}, {"required": ["event_ids"]}]
    schemas["Replay"]["minProperties"] = 1
    schemas["PolicyEvaluate"]["oneOf"] = [{"required": ["event"]}, {"required": ["access"]}]
    schemas["PolicyStatement"]["oneOf"] = [{"required": ["resources"]}, {"required": ["notResources"]}]
    schemas["PolicyStatement"]["allOf"] = [{"oneOf": [{"required": ["actions"]}, {"required": ["notActions"]}]}]
    for name in ("AuditEntry", "Access", "ActionParams"):
        schemas[name]["additionalProperties"] = True
    schemas["Error"]["additionalProperties"] = True


def build_spec(integration_plugins: list[str] = ()) -> dict[str, Any]:
    spec = APISpec(
        title="Flag Event Gateway admin API", version=__version__, openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": "Every request needs `Authorization: Bearer <token>`: the admin token or a named "
                             "token, whose role (viewer, operator, admin) must allow the operation (403 names "
                             "the role needed). Every error "
                             "answer is JSON: `{\"error\": message, \"errors\"?: {field path: [messages]}}`."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name in COMPONENTS:
        spec.components.schema(name, schema=getattr(schemas, f"{name}Schema"))
    integration_id = [_path_param("integration_id")]
    delivery_id = [_path_param("delivery_id")]
    conflict = _error("the integration cannot be used (its stored config no longer validates, or its plugin is gone)")
    spec.path("/api/v1/plugins", operations={"get": _op("installed plugins, refused ones and those left out",
                                                         {"200": _json("PluginList")},
                                                         params=[_query("all", {"type": "boolean"}, "also list built-in plugins")])})
    spec.path("/api/v1/integrations", operations={
        "get": _op("list integrations", {"200": _json("IntegrationList")}),
        "post": _op("create an integration", {"201": _json("Integration", "created")}, body="IntegrationCreate"),
    })
    spec.path("/api/v1/integrations/{integration_id}", operations={
        "get": _op("show an integration", {"200": _json("Integration")}, params=integration_id),
        "patch": _op("change an integration", {"200": _json("Integration")}, body="IntegrationUpdate",
                     params=integration_id),
        "delete": _op("remove an integration (its events stay)",
                      {"204": {"description": "removed"}, "409": _error("an attempt of it is running; disable it first")},
                      params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/explain", operations={
        "post": _op("the decision chain for a webhook body, without storing or sending", {"200": _json("Explain")},
                    body="AuditEntry", params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/status", operations={
        "get": _op("the stored result of the plugin's checks of this integration (run in the background)",
                   {"200": _json("Status"), "409": conflict}, params=integration_id + [REFRESH]),
    })
    spec.path("/api/v1/integrations/{integration_id}/actions/{action}", operations={
        "post": _op("run an action the status checks offer",
                    {"200": _json("ActionResult"), "404": _error("no such integration, or the plugin offers no actions"),
                     "409": conflict, "502": _error("the plugin's action failed")},
                    body="ActionParams", body_required=False, params=integration_id + [_path_param("action")]),
    })
    spec.path("/api/v1/deliveries", operations={
        "get": _op("deliveries, newest first (without attempts), with their total (counted up to 1,000: past that, "
                   "more); a list with skip lines, or of one integration, looks through the decisions of 5,000 events "
                   "a page (and counts within the newest 5,000): a page may hold fewer than limit and still have a "
                   "next_cursor", {"200": _json("DeliveryPage")}, params=[
            _query("integration", {"type": "string"}, "an integration id"),
            _query("status", {"type": "string", "enum": list(STATUSES)}),
            _query("since", SINCE, "created at or after this time: " + SINCE["description"]),
            LIMIT, CURSOR]),
    })
    spec.path("/api/v1/deliveries/{delivery_id}", operations={
        "get": _op("a delivery with every attempt", {"200": _json("Delivery")}, params=delivery_id),
    })
    spec.path("/api/v1/deliveries/{delivery_id}/retry", operations={
        "post": _op("make a dead, retrying or pending delivery due now",
                    {"200": _json("Delivery"), "409": _error("in flight, delivered or skipped")}, params=delivery_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/replay", operations={
        "post": _op("decide again, with the current policy, plugin check and cooldown, for the dead deliveries "
                    "since a time or for given events: those taken now are queued, those skipped stay as they were "
                    "(each new decision in the event's history)",
                    {"200": _json("ReplayResult"), "404": _error("no such integration, or unknown event ids")},
                    body="Replay", params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/override", operations={
        "post": _op("send a stored event despite the denials it has now, confirmed by name; recorded in the "
                    "event's history beside the decision it overrides",
                    {"200": _json("OverrideResult"), "404": _error("no such integration, or no such event"),
                     "409": _error("nothing denies the event now (replay it), the confirmed denials are not the "
                                   "current ones, or a denial may not be overridden (a dry run, for example)")},
                    body="Override", params=integration_id),
    })
    spec.path("/api/v1/integrations/{integration_id}/test", operations={
        "post": _op("send the plugin's test event through the delivery path now and answer the outcome",
                    {"200": _json("TestSend"), "404": _error("no such integration, or the plugin has no test event"),
                     "409": conflict},
                    params=integration_id),
    })
    spec.path("/api/v1/events", operations={
        "get": _op("events, newest first, with their total (counted up to 1,000: past that, more). source and kind "
                   "each read an index; both together look through the 5,000 newest events of the kind a page: a "
                   "page may hold fewer than limit and still have a next_cursor", {"200": _json("EventPage")}, params=[
            LIMIT, CURSOR, _query("source", {"type": "string"}), _query("kind", {"type": "string"})]),
    })
    spec.path("/api/v1/events/{event_id}", operations={
        "get": _op("an event with each integration's decision and attempts", {"200": _json("EventDetail")},
                   params=[_path_param("event_id")]),
    })
    spec.path("/api/v1/policy/evaluate", operations={
        "post": _op("evaluate a policy against an event or an access; nothing is stored",
                    {"200": _json("PolicyDecision")}, body="PolicyEvaluate"),
    })
    spec.path("/api/v1/openapi.json", operations={
        "get": _op("this document", {"200": {"description": "OpenAPI 3.0",
                                             "content": {"application/json": {"schema": {"type": "object"}}}}}),
    })
    spec.path("/api/v1/tokens", operations={
        "get": _op("named tokens that are not revoked (never their secrets)", {"200": _json("TokenList")}),
        "post": _op("create a named token; its secret is in this answer only",
                    {"201": _json("TokenCreated", "created"), "409": _error("a live token has this name")},
                    body="TokenCreate"),
    })
    spec.path("/api/v1/tokens/{token}", operations={
        "delete": _op("revoke a named token (by id or name): refused from the next request on, on every node",
                      {"204": {"description": "revoked"}, "409": _error("the admin token cannot be revoked here")},
                      params=[_path_param("token")]),
    })
    spec.path("/api/v1/audit", operations={
        "get": _op("the stored audit log, newest first", {"200": _json("AuditLogPage")}, params=[
            _query("object", {"type": "string"}, "e.g. integration:<id>, delivery:<id>, connection, token:<name>"),
            _query("actor", {"type": "string"}, "a token's name, cli:<user>, or gateway"),
            _query("action", {"type": "string"}, "e.g. integration.create"),
            _query("since", SINCE, "at or after this time: " + SINCE["description"]),
            _query("until", SINCE, "before this time: " + SINCE["description"]),
            LIMIT, CURSOR]),
    })
    spec.components.schema("ConnectionInput", schema=ConnectionSchema)
    refresh = [REFRESH]
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
                      params=[_query("keep_webhook", {"type": "string", "enum": ["0", "1"]}, "1 leaves the webhook in the flag platform")]),
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
    spec.path(base + "/catch-up", operations={
        "post": _op("reconcile from the flag platform's audit log now: flag changes whose webhook did not "
                    "arrive are taken in (ran false when another process or node is at it)",
                    {"200": {"description": "what the catch-up did"}, "404": _json("Error")}),
    })
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    _components(document, sorted(integration_plugins))
    return document


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_spec(list(get_state().host.integration_types())))
