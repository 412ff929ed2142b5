"""The way in: ``POST /webhooks/<source>`` and ``POST /webhooks/integrations/<id>``."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider

from gateway.host.builtin import launchdarkly
from gateway import strict_json
from gateway.events import Event
from gateway.host.inbound_request import InboundRequest, Received, Rejected
from gateway.inbound.intake import accept
from gateway.inbound.request_body import read_body
from gateway.responses import ALL_METHODS, ApiError, answer_errors_as_json, answer_options, refuse_nul, unmatched
from gateway.host.state import get_state
from gateway.store.base import now
from gateway.store.events import NewDecision

log = logging.getLogger(__name__)

bp = Blueprint("gateway_webhooks", __name__)
answer_errors_as_json(bp)
bp.add_url_rule("/webhooks/<path:path>", "unmatched", unmatched, methods=ALL_METHODS)
bp.before_request(refuse_nul)
bp.before_request(answer_options)


def read_inbound() -> InboundRequest:
    """The request as an :class:`InboundRequest`; 413 past ``GATEWAY_MAX_BODY_BYTES``."""
    body = read_body(get_state().settings.max_body_bytes, "GATEWAY_MAX_BODY_BYTES")
    return InboundRequest(
        method=request.method, path=request.path, headers=request.headers, body=body,
        content_type=request.content_type or "", remote_addr=request.remote_addr,
    )


def _answer(recorded):
    if not recorded.created:
        return jsonify(event_id=recorded.event_id, duplicate=True, queued=0, skipped=0), 200
    provider = current_app.json
    if type(provider) is not DefaultJSONProvider or provider.compact is False or (
            provider.compact is None and current_app.debug):  # indented, or another provider's form
        return jsonify(event_id=recorded.event_id, queued=recorded.queued, skipped=recorded.skipped), 202
    # jsonify's answer, written directly: building it through the JSON provider costs more than
    # the rest of the answer (the same body, status and headers)
    body = (f'{{"event_id":{json.dumps(recorded.event_id)},"queued":{int(recorded.queued)},'
            f'"skipped":{int(recorded.skipped)}}}\n')
    return current_app.response_class(body, status=202, mimetype="application/json")


def _verify(state, source, inbound: InboundRequest) -> None:
    """Check the signature against every secret the source accepts: its setting's and, for the flag
    platform, the connection's webhook secret (and the previous one in its grace period). Without
    any secret, nothing is checked. A request signed with the connection's secret is noted for the
    connection's last-event check."""
    configured = current_app.config.get(source.secret_setting) if source.secret_setting else None
    connection = state.connection.current() if source.key == launchdarkly.SOURCE else None
    connection_secrets = connection.signing_secrets(now()) if connection is not None else []
    candidates = ([configured] if configured else []) + connection_secrets
    if not candidates:
        if state.settings.require_signed_webhooks:
            raise Rejected(401, f"unsigned webhooks are refused (GATEWAY_REQUIRE_SIGNED_WEBHOOKS) and no signing "
                                f"secret is configured ({source.secret_setting})")
        return
    first: Rejected | None = None
    for secret in candidates:
        try:
            source.verify(inbound, secret)
        except Rejected as exc:
            first = first or exc
            continue
        if secret in connection_secrets:
            state.connection.event_seen(now())
        return
    raise first


def _refuse_old_entry(state, source_key: str, event: Event) -> None:
    """A flag-platform entry dated (its ``date``) further back than ``GATEWAY_MAX_ENTRY_AGE_DAYS`` is
    refused: it may be a replay of one whose de-duplication key is forgotten."""
    bound = state.settings.max_entry_age_days
    if not bound or source_key != launchdarkly.SOURCE:
        return
    age_days = (now() - event.occurred_at.timestamp()) / 86400
    if age_days > bound:
        raise Rejected(400, f"the entry is dated {event.occurred_at.isoformat(timespec='seconds')}, {age_days:.1f} days "
                            f"ago; entries older than {bound:g} days are refused as possible replays "
                            "(GATEWAY_MAX_ENTRY_AGE_DAYS)")


@bp.post("/webhooks/<source_key>")
def source_webhook(source_key: str):
    state = get_state()
    plugin = state.host.sources().get(source_key)
    if plugin is None:
        raise ApiError(404, f"no webhook source {source_key!r}; sources: {', '.join(sorted(state.host.sources()))}")
    source = plugin.declaration
    try:
        inbound = read_inbound()
        if source.verify is not None:
            _verify(state, source, inbound)
        event = source.parse(inbound)
        _refuse_old_entry(state, source_key, event)
    except (Rejected, ApiError) as exc:
        status = exc.status
        state.metrics.rejected.labels(source_key, str(status)).inc()
        log.warning("webhook for source %r refused (%d): %s", source_key, status, exc.message)
        raise ApiError(status, exc.message) from None
    try:
        raw_json = inbound.body.decode("utf-8")  # a source event keeps the body as received
    except UnicodeDecodeError:
        raw_json = None
    return _answer(accept(state, event, raw_json=raw_json))


def _record_ignored(state, row, inbound: InboundRequest, reason: str) -> str:
    """Keep a request the plugin acknowledged but did not use, with why, so it is visible."""
    try:
        raw = strict_json.loads(inbound.body)
    except strict_json.InvalidJson:
        raw = inbound.body[:2000].decode("utf-8", "replace")
    event = Event(source=row.plugin, source_id="ignored-" + hashlib.sha256(inbound.body).hexdigest(),
                  kind="ignored", occurred_at=_utcnow(), title=reason, raw=raw)
    recorded = state.db.events.record(
        event, [NewDecision(row.id, row.plugin, "skipped", f"ignored: {reason}")], integration_id=row.id
    )
    return recorded.event_id


def _utcnow() -> datetime:
    return datetime.fromtimestamp(now(), timezone.utc)


@bp.post("/webhooks/integrations/<integration_id>")
def integration_webhook(integration_id: str):
    state = get_state()
    active = state.integrations.enabled_one(integration_id)  # compiled already: nothing compiles here
    if active is None:
        raise ApiError(404, f"no enabled integration {integration_id!r}")
    row = active.row
    if active.plugin is None or not active.plugin.has_hook("receive_webhook"):
        raise ApiError(404, f"integration {integration_id!r} does not receive webhooks")
    if active.error:
        # The reason may quote the stored config (internal URLs, for one): it goes to the log and to
        # the admin API (GET /api/v1/integrations/<id>/status), never to this unauthenticated sender.
        log.error("webhook for integration %s refused (503): %s", row.id, active.error)
        raise ApiError(503, f"integration {integration_id!r} cannot receive webhooks now: its configuration "
                            "is not usable (the gateway's log and admin API say why)")
    try:
        inbound = read_inbound()
        received = state.host.call(row.plugin, "receive_webhook", request=inbound,
                                   config=active.config, integration=active.ref)
    except (Rejected, ApiError) as exc:
        state.metrics.rejected.labels(row.plugin, str(exc.status)).inc()
        log.warning("webhook for integration %s refused (%d): %s", row.id, exc.status, exc.message)
        raise ApiError(exc.status, exc.message) from None
    except Exception as exc:
        log.exception("plugin %r receive_webhook raised for integration %s", row.plugin, row.id)
        raise ApiError(500, f"plugin {row.plugin!r} failed to read the webhook ({type(exc).__name__}); nothing was stored") from None
    if not isinstance(received, Received):
        raise ApiError(500, f"plugin {row.plugin!r} returned {type(received).__name__}, not Received; nothing was stored")
    results = []
    for event in received.events:
        recorded = accept(state, event, receiver_id=row.id)
        results.append({"event_id": recorded.event_id, "duplicate": not recorded.created,
                        "queued": recorded.queued, "skipped": recorded.skipped})
    body = {"message": received.message, "events": results}
    if received.ignored and not received.events:
        body["ignored"] = received.ignored
        body["event_id"] = _record_ignored(state, row, inbound, received.ignored)
    status = 202 if any(not r["duplicate"] for r in results) else 200
    return jsonify(body), status
