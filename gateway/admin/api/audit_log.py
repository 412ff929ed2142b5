"""``GET /api/v1/audit``: the stored audit log, newest first, paged, filtered by object, actor,
action and time."""

from __future__ import annotations

import base64

from flask import request

from gateway.admin.operations import _since
from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.admin.api import serialize
from gateway.admin.api.blueprint import bp
from gateway.admin.api.answers import answer
from gateway.admin.api.paging import page_limit


def _cursor(value: str | None) -> tuple[float, int] | None:
    if value is None:
        return None
    try:
        stamp, row_id = base64.urlsafe_b64decode(value.encode()).decode().split("|", 1)
        return float(stamp), int(row_id)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor: pass next_cursor from the previous page unchanged") from None


def entry(row) -> dict:
    return {"id": row.id, "at": serialize.iso(row.at), "actor": row.actor, "role": row.role, "origin": row.origin,
            "action": row.action, "object": row.object, "summary": row.summary, "details": row.details}


@bp.get("/audit")
def list_audit():
    state = get_state()
    limit = page_limit()
    args = request.args
    rows = state.db.audit_log.list(
        limit=limit + 1, before=_cursor(args.get("cursor")), object=args.get("object") or None,
        actor=args.get("actor") or None, action=args.get("action") or None,
        since=_since(args["since"]) if "since" in args else None,
        until=_since(args["until"], "until") if "until" in args else None)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = (base64.urlsafe_b64encode(f"{page[-1].at!r}|{page[-1].id}".encode()).decode() if more else None)
    return answer("AuditLogPage", {"items": [entry(row) for row in page], "next_cursor": next_cursor})
