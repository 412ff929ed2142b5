"""The tokens page (named tokens with a role: create, with the secret shown once, and revoke) and
the audit log page."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from flask import g, redirect, render_template, request, url_for

from gateway.admin import tokens
from gateway.responses import ApiError
from gateway.host.state import get_state
from gateway.timestamps import parse_timestamp
from gateway.admin.ui.blueprint import bp

PAGE = 50


def _render_tokens(*, created=None, secret=None, errors=None, values=None, status=200):
    state = get_state()
    return render_template("ui/tokens.html", title="Tokens", tokens=state.db.api_tokens.list(),
                           roles=tokens.ROLES, created=created, secret=secret, errors=errors or {},
                           values=values or {"name": "", "role": "viewer"}), status


@bp.get("/tokens")
def tokens_page():
    return _render_tokens()


@bp.post("/tokens")
def create_token():
    values = {"name": request.form.get("name", "").strip(), "role": request.form.get("role", "")}
    try:
        row, secret = tokens.create_token(get_state(), values, "ui")
    except ApiError as exc:
        return _render_tokens(errors={"_form": [exc.message], **(exc.errors or {})}, values=values, status=exc.status)
    # The secret is in this page only: never in the session cookie, never stored.
    return _render_tokens(created=row, secret=secret)


@bp.post("/tokens/<token_id>/revoke")
def revoke_token(token_id: str):
    try:
        row = tokens.revoke_token(get_state(), token_id, "ui")
    except ApiError as exc:
        g.ui_session.notice(exc.message, "error")
    else:
        g.ui_session.notice(f"Token {row.name} revoked: it is refused from now on.")
    return redirect(url_for("gateway_ui.tokens_page"))


def _cursor(value: str | None) -> tuple[float, int] | None:
    if not value:
        return None
    try:
        stamp, row_id = base64.urlsafe_b64decode(value.encode()).decode().split("|", 1)
        return float(stamp), int(row_id)
    except (ValueError, UnicodeDecodeError):
        return None


def _time(value: str) -> float | None:
    try:
        return parse_timestamp(value) if value else None
    except ValueError:
        return None


@bp.get("/audit")
def audit():
    state = get_state()
    filters = {key: (request.args.get(key) or "").strip() for key in ("object", "actor", "action", "since", "until")}
    rows = state.db.audit_log.list(
        limit=PAGE + 1, before=_cursor(request.args.get("cursor")), object=filters["object"] or None,
        actor=filters["actor"] or None, action=filters["action"] or None, since=_time(filters["since"]),
        until=_time(filters["until"]))
    page, more = rows[:PAGE], len(rows) > PAGE
    next_link = None
    if more:
        query = {k: v for k, v in filters.items() if v}
        query["cursor"] = base64.urlsafe_b64encode(f"{page[-1].at!r}|{page[-1].id}".encode()).decode()
        next_link = url_for("gateway_ui.audit") + "?" + urlencode(query)
    return render_template("ui/audit.html", title="Audit log", entries=page, filters=filters, next_link=next_link)
