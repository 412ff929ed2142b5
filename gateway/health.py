"""``GET /healthz`` and ``GET /metrics``."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from .responses import answer_errors_as_json
from .state import get_state
from .store.base import now

log = logging.getLogger(__name__)

bp = Blueprint("gateway_health", __name__)
answer_errors_as_json(bp)


def workers_health(state) -> dict:
    """The in-process delivery workers: threads, how many are alive and busy, the oldest heartbeat."""
    pools = [pool.health() for pool in state.workers]
    return {
        "threads": sum(p["threads"] for p in pools),
        "alive": sum(p["alive"] for p in pools),
        "busy": sum(p["busy"] for p in pools),
        "oldest_heartbeat_seconds": max((p["oldest_heartbeat_seconds"] for p in pools), default=None),
    }


def queue_health(state) -> dict:
    stats = state.db.deliveries.stats(now())
    return {"depth": stats.depth, "held": stats.held, "oldest_pending_seconds": stats.oldest_age,
            "by_status": stats.by_status}


@bp.get("/healthz")
def healthz():
    """200 when the database answers and the in-process workers (if any) are alive; else 503."""
    state = get_state()
    body: dict = {}
    try:
        state.db.ping()
        body["database"] = "ok"
        body["queue"] = queue_health(state)
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable: %s", exc)
        body["database"] = f"unreachable: {type(exc).__name__}"
    body["workers"] = workers_health(state)
    workers_down = body["workers"]["threads"] > 0 and body["workers"]["alive"] == 0
    body["status"] = "ok" if body["database"] == "ok" and not workers_down else "unavailable"
    body["warnings"] = list(state.warnings)  # things to fix that do not make the gateway unavailable
    return jsonify(body), 200 if body["status"] == "ok" else 503


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(get_state().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
