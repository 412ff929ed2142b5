"""The tables. Times are seconds since the epoch (UTC) as floats, the same on every database."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

meta = Table(
    "gateway_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

integrations = Table(
    "integrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("plugin", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("config", Text, nullable=False),  # JSON, without the secret fields
    Column("secrets", Text),  # Fernet token of the secret fields as JSON
    Column("policy", Text, nullable=False),  # JSON list of statements
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("integration_id", String(36)),  # set for events received by one integration's webhook
    Column("dedupe_key", String(400), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("occurred_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("body", Text, nullable=False),  # the normalized event as JSON (without raw)
    Column("raw", Text, nullable=False),  # the payload as received (decoded JSON, re-encoded)
    UniqueConstraint("dedupe_key", name="uq_events_dedupe_key"),
    Index("ix_events_received", "received_at", "id"),
    Index("ix_events_source", "source", "received_at", "id"),  # the events of a source, newest first
    Index("ix_events_kind", "kind", "received_at", "id"),  # of a kind
)

removed_event_keys = Table(
    "removed_event_keys",
    metadata,
    # the de-duplication keys of events retention removed, kept longer than the events (a replay of
    # one is still a duplicate); pruned after GATEWAY_DEDUPE_RETENTION_DAYS
    Column("dedupe_key", String(400), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("removed_at", Float, nullable=False),
    Index("ix_removed_event_keys_removed", "removed_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # also the idempotency key plugins may send
    Column("event_id", String(36), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("integration_id", String(36), ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("plugin", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    # attempts made before the last re-queue by hand (retry, replay): the schedule starts again there
    Column("schedule_start", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", Float),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", Float),
    Column("summary", Text),
    Column("details", Text),  # JSON
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # deliveries a plugin's deliver_batch retried together share this id, and are attempted together
    Column("batch_id", String(36)),
    # also serves look-ups by event_id (its leading column)
    UniqueConstraint("event_id", "integration_id", name="uq_deliveries_event_integration"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_age", "status", "created_at"),  # the oldest waiting one, at once
    # the in-flight ones by lease end (an expired lease is claimed first): partial, so a claim never
    # reads the entries every delivery leaves while in flight (revision 0014)
    Index("ix_deliveries_lease", "lease_expires_at", postgresql_where=text("status = 'in_flight'"),
          sqlite_where=text("status = 'in_flight'")),
    Index("ix_deliveries_integration", "integration_id", "status", "updated_at"),
    Index("ix_deliveries_batch", "batch_id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker", String(100), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(20), nullable=False),  # delivered, retry, failed
    Column("reason", Text, nullable=False),
    Column("http", Text, nullable=False),  # JSON list of the attempt's HTTP exchanges
    Index("ix_attempts_delivery", "delivery_id", "number"),
)

connections = Table(
    "connections",
    metadata,
    Column("key", String(50), primary_key=True),  # the platform: "launchdarkly"
    Column("config", Text, nullable=False),  # JSON, without the secrets
    Column("secrets", Text),  # Fernet token of the secrets as JSON (API token, webhook secrets)
    Column("state", Text, nullable=False),  # JSON: what the gateway knows of the wired webhook
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

check_results = Table(
    "check_results",
    metadata,
    # "integration:<id>" or "connection:<key>"
    Column("subject", String(100), primary_key=True),
    Column("state", String(20), nullable=False),  # ok, warning, error
    Column("checks", Text, nullable=False),  # JSON list of {name, state, message, ...}
    Column("checked_at", Float, nullable=False),
    Column("subject_updated_at", Float, nullable=False),  # the subject's updated_at when checked
)

# Skip decisions, compactly: an event's skips are one row per distinct reason, naming a set of
# integrations; a set (its members written once, when it first appears) is shared by every event
# skipped for those integrations. So the bytes written per event do not grow with the number of
# integrations that skip it, while "why did integration X not get event E" is one join away.
# Policy denials are one row per event whatever the policies: its set names each member with the
# policy revision that denied it, and each member's reason is read back by evaluating that revision
# on the stored event (gateway/store/skips.py).

# Every policy a set of denials names, by content: id = a digest of its canonical JSON. Written
# with the first set that names it, never changed, so the reason of an old denial is read again
# from the policy that judged it, whatever the integration's policy is now.
policy_revisions = Table(
    "policy_revisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("policy", Text, nullable=False),  # canonical JSON list of statements
    Column("created_at", Float, nullable=False),
)

integration_sets = Table(
    "integration_sets",
    metadata,
    Column("id", String(32), primary_key=True),  # a digest of the sorted member ids
    Column("size", Integer, nullable=False),  # members left (removing an integration lowers it)
    Column("created_at", Float, nullable=False),
)

integration_set_members = Table(
    "integration_set_members",
    metadata,
    Column("set_id", String(32), ForeignKey("integration_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("integration_id", String(36), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True),
    Column("plugin", String(100), nullable=False),
    # for a set of policy denials: the policy revision that denied this member (None: the skip's reason)
    Column("policy_id", String(32), ForeignKey("policy_revisions.id")),
    Index("ix_integration_set_members_integration", "integration_id"),
)

skips = Table(
    "skips",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("set_id", String(32), ForeignKey("integration_sets.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_skips_event", "event_id"),
    Index("ix_skips_set", "set_id", "created_at"),  # an integration's skips, newest first
    Index("ix_skips_created", "created_at"),
)

# Cooldowns an integration's events claimed (gateway.Cooldown): one row per integration and key,
# taken over by the next event that claims the key once ``claimed_until`` has passed. The event is
# not a foreign key: a claim outlives the event that made it, should retention remove the event.
cooldowns = Table(
    "cooldowns",
    metadata,
    Column("integration_id", String(36), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("event_id", String(36), nullable=False),  # the event that holds the key
    Column("description", Text, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("claimed_until", Float, nullable=False),
)

# What this gateway turned off, and for what (gateway.FlagHolds): one row per flag and environment
# (``flag``: ``<project>/<environment>/<flag>``), written by the integration whose action turned it off,
# removed when one of its actions turns it back on, and with that integration.
flag_holds = Table(
    "flag_holds",
    metadata,
    Column("flag", String(800), primary_key=True),
    Column("integration_id", String(36), ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("cause", String(400), nullable=False),  # what it was turned off for (a problem's id)
    Column("label", Text, nullable=False),  # the cause, for people
    Column("held_at", Float, nullable=False),
)

# What people did to an event's decision for an integration after it was taken: a replay (the
# decision taken again, with the current policy, plugin check and cooldown) or an override (sent
# despite the named denials). One row each, with the decision it replaced, so that the original skip
# and its reason stay on the event's page whatever the new decision is.
decision_history = Table(
    "decision_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("integration_id", String(36), ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(20), nullable=False),  # replay, override
    Column("origin", String(10), nullable=False),  # api, ui, cli
    Column("outcome", String(20), nullable=False),  # queued, skipped, in_flight (left alone)
    Column("reason", Text, nullable=False),  # the new decision's reason
    Column("overrode", Text),  # JSON list of {stage, reason} an override sent the event despite
    Column("previous_status", String(20)),  # the decision before (None: there was none)
    Column("previous_reason", Text),
    Column("delivery_id", String(36)),  # the delivery it queued
    Column("created_at", Float, nullable=False),
    Index("ix_decision_history_event", "event_id", "created_at"),
)

# Signed-in web UI sessions. The browser's cookie (signed) carries a random session id; only its
# SHA-256 is stored. Signing out deletes the row, so a copy of the cookie is refused from then on.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # who signed in: the token's name and role ("admin"/"admin" for the admin token), and the
    # token's id (None for the admin token) so that revoking the token ends its sessions
    Column("token_id", String(36)),
    Column("token_name", String(100)),
    Column("role", String(20)),
    Index("ix_ui_sessions_expires", "expires_at"),
)

# Named API tokens with a role (viewer, operator, admin). Only the token's SHA-256 is stored; the
# secret is shown once, at creation. A revoked token keeps its row (with ``revoked_at``) so that
# listings and the audit log can still name it. ``last_used_*`` is written at most once a minute.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
    Column("last_used_origin", String(20)),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    Index("ix_api_tokens_name", "name"),
)

# The stored audit log: every change through the API, the UI or the CLI, and every action the
# gateway takes on its own (actor "gateway", origin "automatic"). ``details`` is JSON of ids, names
# and counts only, never a secret. Kept for GATEWAY_AUDIT_RETENTION_DAYS.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(100), nullable=False),  # a token's name, or "gateway"
    Column("role", String(20)),  # the actor's role (None for "gateway")
    Column("origin", String(20), nullable=False),  # api, ui, cli, automatic
    Column("action", String(100), nullable=False),
    Column("object", String(200)),  # e.g. "integration:<id>", "connection", "token:<name>"
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Index("ix_audit_log_at", "at", "id"),
    Index("ix_audit_log_object", "object", "at"),
    Index("ix_audit_log_actor", "actor", "at"),
)
