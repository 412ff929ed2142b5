"""The admin API's marshmallow schemas: they validate input, shape every answer (the routes dump
through them, so an answer holds exactly the documented fields) and document the API (OpenAPI)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from gateway.store.unavailable import REASONS
from gateway.policy.limits import MAX_PATTERN_LENGTH, MAX_STATEMENTS
from gateway.store.deliveries import STATUSES

TIME = {"format": "date-time"}
# Times the API reads: seconds since the epoch (plain decimal) or an ISO 8601 / RFC 3339 date-time.
SECONDS_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,9})?$"


class StrictBoolean(fields.Boolean):
    """A JSON boolean, and nothing else (marshmallow's also takes "yes", 1, "on" ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class PolicyStatementSchema(Schema):
    effect = fields.String(required=True, validate=validate.OneOf(["allow", "deny"]))
    resources = fields.List(fields.String(validate=validate.Length(1, MAX_PATTERN_LENGTH)), validate=validate.Length(min=1))
    notResources = fields.List(fields.String(validate=validate.Length(1, MAX_PATTERN_LENGTH)), validate=validate.Length(min=1))
    actions = fields.List(fields.String(validate=validate.Length(1, MAX_PATTERN_LENGTH)), validate=validate.Length(min=1))
    notActions = fields.List(fields.String(validate=validate.Length(1, MAX_PATTERN_LENGTH)), validate=validate.Length(min=1))


POLICY = {"type": "array", "maxItems": MAX_STATEMENTS, "items": {"$ref": "#/components/schemas/PolicyStatement"},
          "description": "policy statements (docs/policies.md); each is checked against the policy language "
                         "when saved, and a policy that is invalid or too large is refused with 400"}


class IntegrationCreateSchema(Schema):
    plugin = fields.String(required=True, metadata={"description": "key of an installed integration plugin"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    enabled = StrictBoolean(load_default=True)
    config = fields.Dict(keys=fields.String(), load_default=dict,
                         metadata={"description": "validated by the plugin's config schema (GET /api/v1/plugins)"})
    policy = fields.Raw(load_default=None, allow_none=True, metadata={
        **POLICY, "description": "list of policy statements; default (absent or null): the plugin's default policy",
    })


class IntegrationUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    enabled = StrictBoolean()
    config = fields.Dict(keys=fields.String(), metadata={
        "description": "merged into the stored config; a secret left out (or sent back masked) is kept; null removes a key",
    })
    policy = fields.Raw(metadata=POLICY)


class IntegrationSchema(Schema):
    id = fields.String(required=True)
    plugin = fields.String(required=True)
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    config = fields.Dict(required=True, metadata={"description": "secret fields shown masked (****abcd)"})
    policy = fields.List(fields.Dict(), required=True, metadata={"description": "policy statements"})
    created_at = fields.String(required=True, metadata=TIME)
    updated_at = fields.String(required=True, metadata=TIME)
    webhook_url = fields.String(metadata={"description": "where the tool sends webhooks, for plugins that receive them: "
                                                         "GATEWAY_PUBLIC_URL and the path, or the path alone when it is unset"})


class IntegrationListSchema(Schema):
    items = fields.List(fields.Nested(IntegrationSchema), required=True)


class PluginSchema(Schema):
    key = fields.String(metadata={"description": "what integrations and the API name the plugin by"})
    name = fields.String(metadata={"description": "the display name the plugin declares"})
    entry_point = fields.String(allow_none=True, metadata={
        "description": "the entry-point name (what GATEWAY_PLUGINS lists); null for built-in plugins"})
    builtin = fields.Boolean()
    description = fields.String()
    kind = fields.String()
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    hooks = fields.List(fields.String())
    optional_hooks = fields.Dict(keys=fields.String(), values=fields.Boolean())
    config_schema = fields.Dict(metadata={"description": "JSON Schema of the config; secret fields are writeOnly"})
    default_policy = fields.List(fields.Dict())
    sources = fields.List(fields.String())


class RefusedPluginSchema(Schema):
    entry_point = fields.String()
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    error = fields.String(metadata={"description": "why the gateway refused it, and what to change"})


class FilteredPluginSchema(Schema):
    entry_point = fields.String()
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    reason = fields.String()


class PluginListSchema(Schema):
    items = fields.List(fields.Nested(PluginSchema))
    refused = fields.List(fields.Nested(RefusedPluginSchema))
    filtered = fields.List(fields.Nested(FilteredPluginSchema))


class CheckSchema(Schema):
    name = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["ok", "warning", "error"]})
    message = fields.String(required=True)
    action = fields.String(allow_none=True)
    action_params = fields.Dict(allow_none=True)


class StatusSchema(Schema):
    integration_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["ok", "warning", "error"]})
    checks = fields.List(fields.Nested(CheckSchema), required=True)
    checked_at = fields.String(allow_none=True, metadata={**TIME, "description": "when the checks ran"})
    stale = fields.Boolean(metadata={"description": "the integration changed since the checks ran"})


class ActionParamsSchema(Schema):
    pass


class ActionResultSchema(Schema):
    action = fields.String(required=True)
    message = fields.String(required=True)


class AttemptSchema(Schema):
    number = fields.Integer(required=True)
    worker = fields.String(required=True)
    started_at = fields.String(required=True, metadata=TIME)
    duration_ms = fields.Float(required=True)
    outcome = fields.String(required=True)
    reason = fields.String(required=True)
    http = fields.List(fields.Dict(), required=True)


class DeliverySchema(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    integration_id = fields.String(required=True)
    integration_name = fields.String(allow_none=True, required=True)
    plugin = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["pending", "in_flight", "retrying", "delivered", "skipped", "dead"]})
    reason = fields.String(required=True)
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True, required=True, metadata=TIME)
    summary = fields.String(allow_none=True, required=True)
    details = fields.Dict(allow_none=True, required=True)
    warnings = fields.List(fields.String(), required=True, metadata={
        "description": "what a person should know about a delivered event (a Sentry import no metric counts)"})
    created_at = fields.String(required=True, metadata=TIME)
    updated_at = fields.String(required=True, metadata=TIME)
    attempt_log = fields.List(fields.Nested(AttemptSchema), metadata={"description": "left out in lists"})


class TotalSchema(Schema):
    """How many items the list has, counted through an index up to 1,000 (past that: more)."""

    count = fields.Integer(required=True, metadata={"description": "the items counted: every one that matches, "
                                                                   "unless more is true or counted_back_to is set"})
    more = fields.Boolean(required=True, metadata={
        "description": "there are more than count: the count stopped at its cap (1,000)"})
    counted_back_to = fields.String(allow_none=True, required=True, metadata={
        **TIME, "description": "the count looked only at items of this time or newer (the last one counted when it "
                              "stopped at its cap, or where a bounded search window ended); null: at every one"})


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True, metadata={"description": "each without attempt_log"})
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Nested(TotalSchema, required=True, metadata={"description": "how many deliveries match the filters"})


SINCE = {"description": "a time: seconds since the epoch (plain decimal), or an ISO 8601 date-time (UTC when it has no offset)",
         "anyOf": [{"type": "string", "pattern": SECONDS_PATTERN}, {"type": "string", "format": "date-time"}]}


class ReplaySchema(Schema):
    since = fields.Raw(metadata={
        "description": "decide again for the dead deliveries that went dead at or after this time: seconds since "
                       "the epoch (a number, or a string of plain decimal digits), or an ISO 8601 date-time",
        "anyOf": [{"type": "number", "minimum": -1e11, "maximum": 1e11}, *SINCE["anyOf"]]})
    event_ids = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(1, 1000), metadata={
        "description": "decide again for each of these events, whatever its decision was (at most 1000)"})


AGAIN_OUTCOMES = ["queued", "skipped", "in_flight"]
PREVIOUS = {"description": "the decision before (null: the integration had none for the event)",
            "enum": [*STATUSES, None]}


class DenialSchema(Schema):
    stage = fields.String(required=True, metadata={"enum": ["offer", "config", "policy", "plugin", "cooldown"]})
    reason = fields.String(required=True)


class DecidedAgainSchema(Schema):
    event_id = fields.String(required=True)
    outcome = fields.String(required=True, metadata={
        "enum": AGAIN_OUTCOMES, "description": "queued: a delivery is due now; skipped: the decision taken again "
                                               "skips it and nothing is sent; in_flight: left alone"})
    reason = fields.String(required=True, metadata={"description": "the new decision's reason"})
    delivery_id = fields.String(allow_none=True, required=True, metadata={"description": "the delivery queued"})
    previous_status = fields.String(allow_none=True, required=True, metadata=PREVIOUS)
    previous_reason = fields.String(allow_none=True, required=True)


class ReplayResultSchema(Schema):
    integration_id = fields.String(required=True)
    requeued = fields.Integer(required=True, metadata={"description": "deliveries queued, due now (created ones included): "
                                                                      "the events the integration takes now"})
    created = fields.Integer(required=True, metadata={"description": "of those, deliveries created for events that had none"})
    skipped = fields.Integer(required=True, metadata={"description": "events the decision taken again skips: nothing sent, "
                                                                     "the decision before kept, the new one in the history"})
    in_flight = fields.Integer(required=True, metadata={"description": "left alone: an attempt is running"})
    enabled = fields.Boolean(required=True, metadata={"description": "false: the integration is disabled and holds them"})
    results = fields.List(fields.Nested(DecidedAgainSchema), required=True, metadata={"description": "one per event"})


class OverrideSchema(Schema):
    event_id = fields.String(required=True, validate=validate.Length(min=1))
    confirm = fields.List(fields.String(validate=validate.OneOf(["policy", "plugin", "cooldown"])), required=True,
                          validate=validate.Length(min=1), metadata={
        "description": "the denials to send the event despite, by stage; must be exactly the stages that deny it "
                       "now (a 409 names them)"})


class OverrideResultSchema(DecidedAgainSchema):
    integration_id = fields.String(required=True)
    enabled = fields.Boolean(required=True, metadata={"description": "false: the integration is disabled and holds it"})
    overrode = fields.List(fields.Nested(DenialSchema), required=True, metadata={
        "description": "the denials it was sent despite, with their reasons"})


class HistoryEntrySchema(Schema):
    integration_id = fields.String(required=True)
    integration_name = fields.String(allow_none=True, required=True)
    action = fields.String(required=True, metadata={"enum": ["replay", "override"]})
    origin = fields.String(required=True, metadata={"enum": ["api", "ui", "cli"]})
    at = fields.String(required=True, metadata=TIME)
    outcome = fields.String(required=True, metadata={"enum": AGAIN_OUTCOMES})
    reason = fields.String(required=True)
    overrode = fields.List(fields.Nested(DenialSchema), required=True)
    previous_status = fields.String(allow_none=True, required=True, metadata=PREVIOUS)
    previous_reason = fields.String(allow_none=True, required=True)
    delivery_id = fields.String(allow_none=True, required=True)


class TestSendSchema(Schema):
    event_id = fields.String(required=True)
    outcome = fields.String(required=True, metadata={"enum": ["delivered", "retry", "failed"]})
    status = fields.String(required=True)
    reason = fields.String(required=True)
    delivery = fields.Nested(DeliverySchema, required=True)


class EventSummarySchema(Schema):
    id = fields.String(required=True)
    source = fields.String(required=True)
    source_id = fields.String(required=True)
    integration_id = fields.String(allow_none=True, required=True)
    kind = fields.String(required=True)
    title = fields.String(allow_none=True, required=True)
    occurred_at = fields.String(required=True, metadata=TIME)
    received_at = fields.String(required=True, metadata=TIME)
    received_via = fields.String(required=True, validate=validate.OneOf(["webhook", "catch-up"]), metadata={
        "description": "webhook, or catch-up: the webhook did not arrive and the change was found in the "
                       "flag platform's audit log (occurred_at is still when it happened)"})


class EventDetailSchema(EventSummarySchema):
    event = fields.Dict(required=True, metadata={"description": "the normalized event"})
    raw = fields.Raw(required=True, allow_none=True, metadata={"description": "the payload as received"})
    decisions = fields.List(fields.Nested(DeliverySchema), required=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True, metadata={
        "description": "replays and overrides of its decisions, oldest first, each with the decision it replaced"})


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Nested(TotalSchema, required=True, metadata={"description": "how many events match the filters"})


class AccessSchema(Schema):
    action = fields.String(required=True, validate=validate.Length(min=1))
    resource = fields.String(required=True, validate=validate.Length(min=1))


class AuditEntrySchema(Schema):
    """The part of a flag-platform webhook body (an audit-log entry) the gateway reads."""

    class Meta:
        unknown = "include"

    _id = fields.String(required=True, data_key="_id", validate=validate.Regexp(r"\S"),
                        metadata={"description": "the entry's id"})
    accesses = fields.List(fields.Nested(AccessSchema), required=True, validate=validate.Length(min=1))
    date = fields.Float(allow_none=True, metadata={"description": "milliseconds since the epoch (absent or null: now)",
                                  "minimum": -62135596800000, "maximum": 253402300799999})


ROLES = ["viewer", "operator", "admin"]


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"),
                         metadata={"description": "unique among live tokens; 'admin', 'gateway' and 'anonymous' are reserved"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class TokenSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    created_at = fields.String(required=True, metadata=TIME)
    created_by = fields.String(required=True, metadata={"description": "who created it (a token's name, or cli:<user>)"})
    revoked_at = fields.String(allow_none=True, required=True, metadata=TIME)
    last_used_at = fields.String(allow_none=True, required=True,
                                 metadata={**TIME, "description": "recorded at most once a minute per node"})
    last_used_origin = fields.String(allow_none=True, required=True, metadata={"description": "api or ui"})


class TokenListSchema(Schema):
    items = fields.List(fields.Nested(TokenSchema), required=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "the secret: shown only in this answer, never again"})


class AuditLogEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.String(required=True, metadata=TIME)
    actor = fields.String(required=True, metadata={"description": "a token's name, cli:<user>, or gateway"})
    role = fields.String(allow_none=True, required=True)
    origin = fields.String(required=True, validate=validate.OneOf(["api", "ui", "cli", "automatic"]))
    action = fields.String(required=True, metadata={"description": "e.g. integration.create"})
    object = fields.String(allow_none=True, required=True,
                           metadata={"description": "e.g. integration:<id>, delivery:<id>, connection, token:<name>"})
    summary = fields.String(required=True)
    details = fields.Dict(required=True, metadata={"description": "ids, names and counts; never a secret"})


class AuditLogPageSchema(Schema):
    items = fields.List(fields.Nested(AuditLogEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PolicyEvaluateSchema(Schema):
    policy = fields.Raw(required=True, metadata=POLICY)
    event = fields.Nested(AuditEntrySchema, metadata={"description": "a flag-platform webhook body"})
    access = fields.Nested(AccessSchema, metadata={"description": "one access, instead of an event"})


class PolicyDecisionSchema(Schema):
    allowed = fields.Boolean(required=True)
    reason = fields.String(required=True)
    statement = fields.Integer(allow_none=True, required=True, metadata={"description": "the statement that decided"})


class StageSchema(Schema):
    stage = fields.String(required=True, metadata={"enum": ["config", "policy", "plugin", "cooldown"]})
    took = fields.Boolean(required=True)
    reason = fields.String(required=True)


class ExplainSchema(Schema):
    integration_id = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    outcome = fields.String(required=True, metadata={"enum": ["queued", "skipped"]})
    reason = fields.String(required=True)
    stages = fields.List(fields.Nested(StageSchema), required=True)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "messages by field path, e.g. config.url"})


class DatabaseUnavailableSchema(Schema):
    error = fields.String()
    reason = fields.String(validate=validate.OneOf(sorted(REASONS)),
                           metadata={"description": "why the database cannot be used now"})
    retry_after = fields.Integer(metadata={"description": "seconds to wait, as in the Retry-After header"})
