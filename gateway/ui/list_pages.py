"""The events and deliveries pages: filtered, paged lists; one event with its decisions and every
attempt; retry of one delivery and replay of dead ones in bulk."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from flask import abort, g, redirect, render_template, request, url_for

from .. import operations
from ..api.paging import MAX_LIMIT, decode_cursor, encode_cursor
from ..responses import ApiError
from ..state import get_state
from ..store.deliveries import STATUSES
from . import bp
from .queries import UiQueries

PAGE = 50


def _cursor(value: str | None) -> tuple[float, str] | None:
    """A page cursor of the API's form; a broken one is treated as the first page."""
    if not value:
        return None
    try:
        return decode_cursor(value)
    except ApiError:
        return None


def _limit() -> int:
    try:
        return max(1, min(MAX_LIMIT, int(request.args.get("limit", PAGE))))
    except ValueError:
        return PAGE


def _next_link(endpoint: str, filters: dict[str, str], cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = {k: v for k, v in filters.items() if v}
    query["cursor"] = cursor
    return url_for(endpoint) + "?" + urlencode(query)


def _day_ago() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@bp.get("/events")
def events():
    state = get_state()
    queries = UiQueries(state.db.engine)
    filters = {key: (request.args.get(key) or "").strip()
               for key in ("source", "kind", "status", "integration", "q")}
    if filters["status"] and filters["status"] not in STATUSES:
        filters["status"] = ""
    limit = _limit()
    rows = queries.search_events(
        limit=limit + 1, before=_cursor(request.args.get("cursor")), source=filters["source"] or None,
        kind=filters["kind"] or None, status=filters["status"] or None,
        integration_id=filters["integration"] or None, text=filters["q"] or None,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    sources, kinds = queries.sources_and_kinds()
    decisions = queries.decisions_of([row.id for row in page])
    return render_template(
        "ui/events.html", title="Events", events=page, decisions=decisions, filters=filters,
        sources=sources, kinds=kinds, statuses=STATUSES, integrations=state.db.integrations.list(),
        next_link=_next_link("gateway_ui.events", filters, next_cursor),
        first_link=url_for("gateway_ui.events", **{k: v for k, v in filters.items() if v})
        if request.args.get("cursor") else None,
    )


@bp.get("/events/<event_id>")
def event(event_id: str):
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        abort(404, f"There is no event {event_id}.")
    integrations = {i.id: i for i in state.db.integrations.list()}
    history: dict[str, list] = {}
    for entry in state.db.history.for_event(row.id):
        history.setdefault(entry.integration_id, []).append(entry)
    return render_template("ui/event.html", title=row.title or row.kind, event=row,
                           decisions=state.db.deliveries.for_event(row.id), integrations=integrations,
                           history=history)


@bp.get("/deliveries")
def deliveries():
    state = get_state()
    filters = {key: (request.args.get(key) or "").strip() for key in ("status", "integration")}
    if filters["status"] and filters["status"] not in STATUSES:
        filters["status"] = ""
    limit = _limit()
    rows = state.db.deliveries.list(integration_id=filters["integration"] or None, status=filters["status"] or None,
                                    limit=limit + 1, before=_cursor(request.args.get("cursor")))
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    titles = UiQueries(state.db.engine).event_titles(list({r.event_id for r in page}))
    return render_template(
        "ui/deliveries.html", title="Deliveries", deliveries=page, filters=filters, statuses=STATUSES,
        integrations=state.db.integrations.list(), titles=titles, replay_since=_day_ago(),
        next_link=_next_link("gateway_ui.deliveries", filters, next_cursor),
        first_link=url_for("gateway_ui.deliveries", **{k: v for k, v in filters.items() if v})
        if request.args.get("cursor") else None,
    )


def _back_to(default: str):
    target = request.form.get("back") or ""
    if target.startswith("/ui/") and "//" not in target and "\\" not in target:
        return redirect(target, 303)
    return redirect(default, 303)


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str):
    state = get_state()
    try:
        row = operations.retry_delivery(state, delivery_id, "ui")
        g.ui_session.notice(f"Delivery {row.id} is queued again: it is due now.")
        default = url_for("gateway_ui.event", event_id=row.event_id)
    except ApiError as exc:
        g.ui_session.notice(exc.message, "error")
        default = url_for("gateway_ui.deliveries")
    return _back_to(default)


@bp.post("/deliveries/replay-dead")
def replay_dead():
    """Replay the dead deliveries since a time: of one integration, or of every one."""
    state = get_state()
    since = (request.form.get("since") or "").strip()
    chosen = request.form.get("integration") or ""
    rows = [r for r in state.db.integrations.list() if not chosen or r.id == chosen]
    if chosen and not rows:
        g.ui_session.notice(f"There is no integration {chosen}.", "error")
        return _back_to(url_for("gateway_ui.deliveries"))
    total = held = skipped = 0
    try:
        for row in rows:
            result = operations.replay_integration(state, row.id, {"since": since}, "ui")
            total += result["requeued"]
            skipped += result["skipped"]
            held += 0 if result["enabled"] else result["requeued"]
    except ApiError as exc:
        g.ui_session.notice(f"Nothing more was re-queued: {exc.message}", "error")
        return _back_to(url_for("gateway_ui.deliveries", status="dead"))
    text = f"Re-queued {total} dead delivery(ies)"
    if held:
        text += f"; {held} of them wait until their integration is enabled"
    if skipped:
        text += (f"; {skipped} stay dead: decided again, their integration's policy or plugin skips them now "
                 "(see each event's history)")
    g.ui_session.notice(text + ".")
    return _back_to(url_for("gateway_ui.deliveries", status="dead"))
