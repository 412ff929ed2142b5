"""The events and deliveries pages: filtered, paged lists; one event with its decisions and every
attempt; retry of one delivery and replay of dead ones in bulk."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from flask import abort, g, redirect, render_template, request, url_for

from gateway.admin import operations
from gateway.admin.api.paging import MAX_LIMIT, decode_cursor, encode_cursor
from gateway.responses import ApiError
from gateway.timestamps import parse_timestamp
from gateway.host.state import get_state
from gateway.store.deliveries import STATUSES
from gateway.admin.ui.blueprint import bp
from gateway.admin.ui.queries import UiQueries

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
    return _link(endpoint, filters, "cursor", cursor)


def _link(endpoint: str, filters: dict[str, str], name: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = {k: v for k, v in filters.items() if v}
    if request.args.get("limit"):  # the page size chosen stays
        query["limit"] = str(_limit())
    query[name] = cursor
    return url_for(endpoint) + "?" + urlencode(query)


def _day_ago() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@bp.get("/events")
def events():
    state = get_state()
    queries = UiQueries(state.db.engine)
    filters = {key: (request.args.get(key) or "").strip()
               for key in ("source", "kind", "status", "integration", "q", "from", "to")}
    if filters["status"] and filters["status"] not in STATUSES:
        filters["status"] = ""
    span, span_errors = {}, {}
    for key in ("from", "to"):
        if filters[key]:
            try:
                span[key] = parse_timestamp(filters[key])
            except ValueError as exc:
                span_errors[key] = str(exc)
    if EVENT_ID.fullmatch(filters["q"].lower()) and state.db.events.get(filters["q"].lower()) is not None:
        return redirect(url_for("gateway_ui.event", event_id=filters["q"].lower()), 303)  # search by event id
    limit = _limit()
    cursor, after = _cursor(request.args.get("cursor")), _cursor(request.args.get("after"))
    found = queries.search_events(
        limit=limit + 1, before=cursor, after=after, source=filters["source"] or None,
        kind=filters["kind"] or None, status=filters["status"] or None,
        integration_id=filters["integration"] or None, text=filters["q"] or None,
        since=span.get("from"), until=span.get("to"),
    )
    rows = found.rows
    if after is not None and len(rows) < limit and found.searched_to is None:  # back at the newest: the first page
        after = None
        found = queries.search_events(
            limit=limit + 1, source=filters["source"] or None, kind=filters["kind"] or None,
            status=filters["status"] or None, integration_id=filters["integration"] or None,
            text=filters["q"] or None, since=span.get("from"), until=span.get("to"))
        rows = found.rows
    searched_to = None
    if after is not None:  # going back: the events just newer than ``after``, oldest first
        page = rows[:limit][::-1]
        newer = (encode_cursor(page[0].received_at, page[0].id) if page else None) if len(rows) > limit else None
        if found.searched_to is not None:
            newer = encode_cursor(*found.searched_to)
        older = encode_cursor(page[-1].received_at, page[-1].id) if page else encode_cursor(*after)
        next_cursor = older
    else:
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
        if found.searched_to is not None:  # the window ran out: go on from where the search stopped
            next_cursor = encode_cursor(*found.searched_to)
            searched_to = found.searched_to[0]
        newer = None
        if cursor is not None:
            newer = encode_cursor(page[0].received_at, page[0].id) if page else encode_cursor(*cursor)
    if any(filters[key] for key in ("status", "integration", "q")) or span:
        total = queries.total_events(
            source=filters["source"] or None, kind=filters["kind"] or None, status=filters["status"] or None,
            integration_id=filters["integration"] or None, text=filters["q"] or None,
            since=span.get("from"), until=span.get("to"))
    else:  # through the index of the filter
        total = state.db.events.total(source=filters["source"] or None, kind=filters["kind"] or None)
    sources, kinds = queries.sources_and_kinds()
    for chosen, menu in ((filters["source"], sources), (filters["kind"], kinds)):
        if chosen and chosen not in menu:
            menu.append(chosen)
    decisions = queries.decisions_of([row.id for row in page])
    return render_template(
        "ui/events.html", title="Events", events=page, decisions=decisions, filters=filters,
        sources=sources, kinds=kinds, statuses=STATUSES, integrations=state.db.integrations.list(),
        searched_to=searched_to, window=found.window, span_errors=span_errors, total=total,
        next_link=_next_link("gateway_ui.events", filters, next_cursor),
        first_link=url_for("gateway_ui.events", **{k: v for k, v in filters.items() if v})
        if request.args.get("cursor") or request.args.get("after") else None,
        previous_link=_link("gateway_ui.events", filters, "after", newer),
    )


@bp.get("/events/<event_id>")
def event(event_id: str):
    state = get_state()
    row = state.db.events.get(event_id)
    if row is None:
        abort(404, f"There is no event {event_id}.")
    integrations = UiQueries(state.db.engine).integration_ids()
    history: dict[str, list] = {}
    for entry in state.db.history.for_event(row.id):
        history.setdefault(entry.integration_id, []).append(entry)
    shown, groups = group_skips(state.db.deliveries.for_event(row.id))
    return render_template("ui/event.html", title=row.title or row.kind, event=row,
                           decisions=shown, skip_groups=groups, integrations=integrations, history=history)


GROUP_FROM = 5
"""Skips of one kind are shown as one expandable group from this many on."""


def skip_kind(reason: str) -> str:
    """What skips are grouped by: policy denials by how the policy decided, others by their reason."""
    if reason.startswith("denied: no statement allows"):
        return "not in their policy"
    if reason.startswith("denied by statement"):
        return "denied by a statement of their policy"
    if reason.startswith("denied"):
        return "denied by their policy"
    return reason


def group_skips(decisions: list) -> tuple[list, list[tuple[str, list]]]:
    """The decisions to show one by one (every one that is not a skip first, in order, then the
    skips of small kinds), and the skips of each kind with :data:`GROUP_FROM` or more lines, largest
    first, as (kind, lines)."""
    by_kind: dict[str, list] = {}
    for d in decisions:
        if d.status == "skipped":
            by_kind.setdefault(skip_kind(d.reason), []).append(d)
    shown = [d for d in decisions if d.status != "skipped"]
    groups = []
    for kind, lines in by_kind.items():
        if len(lines) >= GROUP_FROM:
            groups.append((kind, sorted(lines, key=lambda d: (d.integration_name or "", d.integration_id))))
        else:
            shown += lines
    return shown, sorted(groups, key=lambda g: -len(g[1]))


@bp.get("/deliveries")
def deliveries():
    state = get_state()
    filters = {key: (request.args.get(key) or "").strip() for key in ("status", "integration")}
    if filters["status"] and filters["status"] not in STATUSES:
        filters["status"] = ""
    limit = _limit()
    integration_id, status = filters["integration"] or None, filters["status"] or None
    cursor, after = _cursor(request.args.get("cursor")), _cursor(request.args.get("after"))
    store = state.db.deliveries
    found = store.page(integration_id=integration_id, status=status, limit=limit + 1,
                       before=None if after else cursor, after=after)
    if after is not None and len(found.rows) <= limit and found.searched_to is None:  # back at the newest
        after = None
        found = store.page(integration_id=integration_id, status=status, limit=limit + 1)
    rows = found.rows
    searched_to = None
    if after is not None:  # going back: the rows just newer than ``after``, oldest first
        page = rows[:limit][::-1]
        newer = encode_cursor(page[0].created_at, page[0].id) if page and len(rows) > limit else None
        if found.searched_to is not None:
            newer = encode_cursor(*found.searched_to)
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if page else encode_cursor(*after)
    else:
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
        if found.searched_to is not None:  # the window ran out: go on from where the search stopped
            next_cursor = encode_cursor(*found.searched_to)
            searched_to = found.searched_to[0]
        newer = None
        if cursor is not None:
            newer = encode_cursor(page[0].created_at, page[0].id) if page else _just_before(cursor)
    titles = UiQueries(state.db.engine).event_titles(list({r.event_id for r in page}))
    return render_template(
        "ui/deliveries.html", title="Deliveries", deliveries=page, filters=filters, statuses=STATUSES,
        integrations=state.db.integrations.list(), titles=titles, replay_since=_day_ago(),
        searched_to=searched_to, window=found.window,
        total=store.total(integration_id=integration_id, status=status),
        next_link=_next_link("gateway_ui.deliveries", filters, next_cursor),
        first_link=url_for("gateway_ui.deliveries", **{k: v for k, v in filters.items() if v})
        if request.args.get("cursor") or request.args.get("after") else None,
        previous_link=_link("gateway_ui.deliveries", filters, "after", newer),
    )


def _just_before(cursor: tuple[float, str]) -> str:
    """The cursor to go back from an empty page found before ``cursor``: every row newer than it
    (a cursor where a search window stopped, "" for an id, stands for all of that time)."""
    stamp, last_id = cursor
    return encode_cursor(stamp, last_id) if last_id else encode_cursor(stamp - 1e-6, "")


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
