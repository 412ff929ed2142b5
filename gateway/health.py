"""``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from .outage import unavailable
from .responses import answer_errors_as_json
from .state import get_state
from .store.base import now

log = logging.getLogger(__name__)

bp = Blueprint("gateway_health", __name__)
answer_errors_as_json(bp)


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
    from .flagplatform.catchup import OFF

    try:
        connection = state.connection.current() if state.connection is not None else None
    except Exception:  # the database went away meanwhile: the rest of the answer says so
        return {"on": None}
    if connection is None:
        return {"on": False, "message": OFF}
    summary = connection.state.get("catchup") or {}
    return {"on": True, "interval_seconds": state.settings.catchup_interval_seconds,
            "last_run_at": summary.get("finished_at"), "window_to": summary.get("window_to")}


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
    response = jsonify(body)
    response.status_code = 200 if body["status"] == "ok" else 503
    if not database_ok:
        response.headers["Retry-After"] = str(state.db_watch.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(get_state().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
