"""The admin API's marshmallow schemas: they validate input and document the API (OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class PolicyStatementSchema(Schema):
    effect = fields.String(required=True, validate=validate.OneOf(["allow", "deny"]))
    resources = fields.List(fields.String())
    notResources = fields.List(fields.String())
    actions = fields.List(fields.String())
    notActions = fields.List(fields.String())


class IntegrationCreateSchema(Schema):
    plugin = fields.String(required=True, metadata={"description": "key of an installed plugin"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean(load_default=True)
    config = fields.Dict(keys=fields.String(), load_default=dict,
                         metadata={"description": "validated by the plugin's config schema"})
    policy = fields.Raw(load_default=None, metadata={
        "description": "list of policy statements; default: the plugin's default policy",
        "type": "array", "items": {"$ref": "#/components/schemas/PolicyStatement"},
    })


class IntegrationUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean()
    config = fields.Dict(keys=fields.String(), metadata={
        "description": "merged into the stored config; a secret left out (or sent back masked) is kept; null removes a key",
    })
    policy = fields.Raw(metadata={"type": "array", "items": {"$ref": "#/components/schemas/PolicyStatement"}})


class IntegrationSchema(Schema):
    id = fields.String()
    plugin = fields.String()
    name = fields.String()
    enabled = fields.Boolean()
    config = fields.Dict(metadata={"description": "secret fields shown masked (****abcd)"})
    policy = fields.List(fields.Nested(PolicyStatementSchema))
    created_at = fields.String(metadata={"format": "date-time"})
    updated_at = fields.String(metadata={"format": "date-time"})
    webhook_url = fields.String(metadata={"description": "where the tool sends webhooks, for plugins that receive them: "
                                                         "GATEWAY_PUBLIC_URL and the path, or the path alone when it is unset"})


class PluginSchema(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    kind = fields.String()
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    hooks = fields.List(fields.String())
    optional_hooks = fields.Dict(keys=fields.String(), values=fields.Boolean())
    config_schema = fields.Dict(metadata={"description": "JSON Schema of the config; secret fields are writeOnly"})
    default_policy = fields.List(fields.Nested(PolicyStatementSchema))
    sources = fields.List(fields.String())


class AttemptSchema(Schema):
    number = fields.Integer()
    worker = fields.String()
    started_at = fields.String(metadata={"format": "date-time"})
    duration_ms = fields.Float()
    outcome = fields.String()
    reason = fields.String()
    http = fields.List(fields.Dict())


class DeliverySchema(Schema):
    id = fields.String()
    event_id = fields.String()
    integration_id = fields.String()
    integration_name = fields.String(allow_none=True)
    plugin = fields.String()
    status = fields.String(metadata={"enum": ["pending", "in_flight", "retrying", "delivered", "skipped", "dead"]})
    reason = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    summary = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    created_at = fields.String(metadata={"format": "date-time"})
    updated_at = fields.String(metadata={"format": "date-time"})
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), metadata={"description": "each without attempt_log"})
    next_cursor = fields.String(allow_none=True)


class ReplaySchema(Schema):
    since = fields.Raw(metadata={"description": "re-queue the dead deliveries that went dead at or after this time "
                                                "(ISO 8601 or seconds since the epoch)", "type": "string"})
    event_ids = fields.List(fields.String(), metadata={
        "description": "re-queue this integration's delivery of each event, whatever its status; "
                       "an event it has none for gets one (at most 1000)"})


class ReplayResultSchema(Schema):
    integration_id = fields.String()
    requeued = fields.Integer(metadata={"description": "deliveries put back in the queue, due now (created ones included)"})
    created = fields.Integer(metadata={"description": "of those, deliveries created for events that had none"})
    in_flight = fields.Integer(metadata={"description": "left alone: an attempt is running"})
    enabled = fields.Boolean(metadata={"description": "false: the integration is disabled and holds them"})


class TestSendSchema(Schema):
    event_id = fields.String()
    outcome = fields.String(metadata={"enum": ["delivered", "retry", "failed"]})
    status = fields.String()
    reason = fields.String()
    delivery = fields.Nested(DeliverySchema)


class EventSummarySchema(Schema):
    id = fields.String()
    source = fields.String()
    source_id = fields.String()
    integration_id = fields.String(allow_none=True)
    kind = fields.String()
    title = fields.String()
    occurred_at = fields.String(metadata={"format": "date-time"})
    received_at = fields.String(metadata={"format": "date-time"})


class EventDetailSchema(EventSummarySchema):
    event = fields.Dict(metadata={"description": "the normalized event"})
    raw = fields.Raw(metadata={"description": "the payload as received"})
    decisions = fields.List(fields.Nested(DeliverySchema))


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSummarySchema))
    next_cursor = fields.String(allow_none=True)


class PolicyEvaluateSchema(Schema):
    policy = fields.Raw(required=True, metadata={"type": "array", "items": {"$ref": "#/components/schemas/PolicyStatement"}})
    event = fields.Dict(metadata={"description": "a flag-platform webhook body"})
    access = fields.Dict(metadata={"description": "{action, resource}, instead of an event"})


class ErrorSchema(Schema):
    error = fields.String()
    errors = fields.Dict(metadata={"description": "messages by field path, e.g. config.url"})
