"""``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from gateway.store.unavailable import unavailable
from gateway.runtime.admin_token import check_bearer, token_hash
from gateway.runtime.auth_throttle import throttled_answer
from gateway.responses import answer_errors_as_json, error_response, refuse_nul
from gateway.host.state import get_state
from gateway.store.base import now

log = logging.getLogger(__name__)

bp = Blueprint("gateway_health", __name__)
answer_errors_as_json(bp)
bp.before_request(refuse_nul)


def workers_health(state) -> dict:
    """The delivery workers of the process that answers: threads, how many are alive, busy and paused
    (waiting for the database), the oldest heartbeat; and under ``serve``, its processes on this
    node and their workers in all (``serve_processes``, ``serve_threads``; null otherwise)."""
    pools = [pool.health() for pool in state.workers]
    processes, threads = state.serve_layout or (None, None)
    return {
        "threads": sum(p["threads"] for p in pools),
        "alive": sum(p["alive"] for p in pools),
        "busy": sum(p["busy"] for p in pools),
        "oldest_heartbeat_seconds": max((p["oldest_heartbeat_seconds"] for p in pools), default=None),
        "paused": sum(p["paused"] for p in pools),
        "serve_processes": processes,
        "serve_threads": threads,
    }


def queue_health(state) -> dict:
    stats = state.db.deliveries.stats(now())
    return {"depth": stats.depth, "held": stats.held, "oldest_pending_seconds": stats.oldest_age,
            "by_status": stats.by_status}


def database_health(state, body: dict) -> bool:
    """Fill ``body`` with the database's state (and the queue's, when it answers); True when available.
    During an outage the database is checked with a write (a database that answers reads may still
    refuse writes); the outage's reason, start, length and refusals are reported."""
    watch = state.db_watch
    if watch.current() is None or watch.probe():
        try:
            state.db.ping()
            body["queue"] = queue_health(state)
            body["database"] = "ok"
            return True
        except SQLAlchemyError as exc:
            if unavailable(exc) is None:  # an outage is logged once by the watch; anything else here
                log.error("health check: database error: %s: %s", type(exc).__name__, exc)
                body["database"] = f"error: {type(exc).__name__}"
                return False
    outage = watch.current()
    body["database"] = "unavailable"
    if outage is not None:
        body["database_outage"] = outage.describe()
    return False


def catchup_health(state) -> dict:
    """Whether flag changes whose webhook is lost are caught up from the audit log (needs a connection)."""
    from gateway.runtime.catchup import OFF

    try:
        connection = state.connection.current() if state.connection is not None else None
    except Exception:  # the database went away meanwhile: the rest of the answer says so
        return {"on": None}
    if connection is None:
        return {"on": False, "message": OFF}
    summary = connection.state.get("catchup") or {}
    return {"on": True, "interval_seconds": state.settings.catchup_interval_seconds,
            "last_run_at": summary.get("finished_at"), "window_to": summary.get("window_to")}


def vacuum_health(state) -> list[str]:
    """Warnings about dead row versions piling up in the queue's tables (PostgreSQL without a working
    autovacuum, :mod:`gateway.store.vacuum_watch`)."""
    if state.vacuum_watch is None:
        return []
    try:
        return state.vacuum_watch.warnings()
    except SQLAlchemyError as exc:  # the database went away meanwhile: the rest of the answer says so
        log.debug("health check: dead row versions not read: %s", exc)
        return []


@bp.get("/healthz")
def healthz():
    """200 when the database can be used and the in-process workers (if any) are alive; else 503
    (not ready: a load balancer should send no traffic here meanwhile)."""
    state = get_state()
    body: dict = {}
    database_ok = database_health(state, body)
    body["workers"] = workers_health(state)
    workers_down = body["workers"]["threads"] > 0 and body["workers"]["alive"] == 0
    body["status"] = "ok" if database_ok and not workers_down else "unavailable"
    body["catch_up"] = catchup_health(state) if database_ok else {"on": None}
    body["warnings"] = list(state.warnings)  # things to fix that do not make the gateway unavailable
    if database_ok:
        body["warnings"] += vacuum_health(state)
    response = jsonify(body)
    response.status_code = 200 if body["status"] == "ok" else 503
    if not database_ok:
        response.headers["Retry-After"] = str(state.db_watch.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    """The Prometheus metrics; with ``GATEWAY_METRICS_TOKEN`` set, for its bearer only (they list
    integration ids, which are the webhook URLs of inbound integrations, and names)."""
    state = get_state()
    token = state.settings.metrics_token
    wait = state.auth_throttle.wait("metrics", request.remote_addr) if token is not None else None
    if wait is not None:
        return throttled_answer(wait)
    header = request.headers.get("Authorization")
    if token is not None and not check_bearer(header, token_hash(token)):
        if header:  # a guess (a request without any is no attempt to get in)
            state.auth_throttle.failed("metrics", request.remote_addr)
        response = error_response(401, "missing or wrong metrics token: send 'Authorization: Bearer "
                                       "<GATEWAY_METRICS_TOKEN>'")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(generate_latest(state.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
