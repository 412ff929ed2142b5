"""The way in: ``POST /webhooks/<source>`` and ``POST /webhooks/integrations/<id>``."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import launchdarkly
from .events import Event
from .inbound import InboundRequest, Received, Rejected
from .intake import accept
from .responses import ALL_METHODS, ApiError, handle_api_error, handle_http_exception, unmatched
from .state import get_state
from .store.base import now
from .store.events import NewDecision

log = logging.getLogger(__name__)

bp = Blueprint("gateway_webhooks", __name__)
bp.register_error_handler(ApiError, handle_api_error)
bp.add_url_rule("/webhooks/<path:path>", "unmatched", unmatched, methods=ALL_METHODS)
for _code in (400, 404, 405, 413, 415):
    bp.register_error_handler(_code, handle_http_exception)


def read_inbound() -> InboundRequest:
    """The request as an :class:`InboundRequest`; 413 past ``GATEWAY_MAX_BODY_BYTES``."""
    limit = get_state().settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body is {request.content_length} bytes; the limit is {limit} (GATEWAY_MAX_BODY_BYTES)")
    request.max_content_length = limit
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise ApiError(413, f"the body is larger than the limit of {limit} bytes (GATEWAY_MAX_BODY_BYTES)") from None
    return InboundRequest(
        method=request.method, path=request.path, headers=request.headers, body=body,
        content_type=request.content_type or "", remote_addr=request.remote_addr,
    )


def _answer(recorded) -> tuple:
    if not recorded.created:
        return jsonify(event_id=recorded.event_id, duplicate=True, queued=0, skipped=0), 200
    return jsonify(event_id=recorded.event_id, queued=recorded.queued, skipped=recorded.skipped), 202


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
        raw = json.loads(inbound.body)
    except (ValueError, UnicodeDecodeError):
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
    row = state.db.integrations.get(integration_id)
    if row is None or not row.enabled:
        raise ApiError(404, f"no enabled integration {integration_id!r}")
    active = state.integrations.active(row)
    if active.plugin is None or not active.plugin.has_hook("receive_webhook"):
        raise ApiError(404, f"integration {integration_id!r} does not receive webhooks")
    if active.error:
        raise ApiError(503, f"integration {integration_id!r} cannot receive webhooks: {active.error}")
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
