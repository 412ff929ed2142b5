"""Sign-in and sign-out, the overview, and the plugins page."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from gateway.host import audit
from gateway.admin.tokens import identify
from gateway.host.config_schema import config_json_schema
from gateway.runtime.health import database_health, workers_health
from gateway.host.state import get_state
from gateway.runtime.status import CONNECTION_SUBJECT
from gateway.store.base import now
from gateway.admin.ui.blueprint import bp, safe_next
from gateway.admin.ui import session
from gateway.admin.ui.charts import hourly_chart
from gateway.admin.ui.queries import IntegrationFigures, UiQueries


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    state = get_state()
    target = safe_next(request.values.get("next"))
    if g.ui_session.signed_in:
        return redirect(target)
    error = None
    if request.method == "POST":
        wait = state.auth_throttle.wait("ui", request.remote_addr)
        if wait is not None:
            error = f"Too many failed sign-ins from your address: try again in {wait} s."
            page = render_template("ui/sign_in.html", title="Sign in", next=target, error=error)
            return page, 429, {"Retry-After": str(wait)}
        token = request.form.get("token", "").strip()
        principal = identify(state, token, "ui")
        if principal is not None:
            g.ui_session = session.sign_in(state, g.ui_session, principal)
            g.principal = principal
            audit.record("ui.sign_in", "ui", result="signed in", client=request.remote_addr)
            return redirect(target)
        audit.record("ui.sign_in", "ui", result="wrong token", client=request.remote_addr)
        if token:  # a guess (an empty field is no attempt to get in)
            state.auth_throttle.failed("ui", request.remote_addr)
        error = "That is not a token of this gateway (the admin token or a named token)."
    status = 401 if error else 200
    return render_template("ui/sign_in.html", title="Sign in", next=target, error=error), status


@bp.post("/sign-out")
def sign_out():
    session.sign_out(get_state(), g.ui_session)
    response = redirect(url_for("gateway_ui.sign_in"))
    session.clear(get_state(), request, response)
    audit.record("ui.sign_out", "ui", client=request.remote_addr)
    g.ui_signed_out = True
    return response


def webhook_base() -> str:
    """Where the webhook URLs start: ``GATEWAY_PUBLIC_URL`` when set, else the address the browser used."""
    return get_state().settings.public_url or request.host_url.rstrip("/")


def _connection_tile(state) -> dict:
    """The flag-platform connection as the overview shows it: connected or not, and the worst of its
    stored checks (none are run here)."""
    current = state.connection.current()
    if current is None:
        return {"connected": False, "signing": False, "state": None}
    stored = state.db.check_results.get(CONNECTION_SUBJECT)
    return {"connected": True, "signing": bool(current.signing_secrets(now())),
            "state": stored.state if stored else None}


OVERVIEW_PAGE = 50
"""Integrations per page of the overview's table."""
CHECK_ORDER = {"error": 0, "warning": 1, "unchecked": 2, "ok": 3}
SORTS = ("name", "checks", "plugin", "created")


def _listing(state) -> tuple[list[dict], dict[str, int]]:
    """Every integration with the state of its stored checks (``unchecked`` when none is stored;
    disabled integrations are not checked), and how many are in each state."""
    items, counts = [], {"error": 0, "warning": 0, "ok": 0, "unchecked": 0, "disabled": 0}
    for brief in UiQueries(state.db.engine).integration_briefs():
        checks = (brief.checks or "unchecked") if brief.enabled else "disabled"
        counts[checks] += 1
        items.append({"row": brief, "checks": checks})
    return items, counts


def _chosen(items: list[dict], query: str, checks: str, sort: str) -> list[dict]:
    """``items`` with ``query`` in their name, plugin or id, in the check state ``checks`` (any
    when empty), sorted by ``sort``."""
    if query:
        folded = query.casefold()
        items = [i for i in items if folded in i["row"].name.casefold() or folded in i["row"].plugin.casefold()
                 or folded == i["row"].id]
    if checks:
        items = [i for i in items if i["checks"] == checks]
    keys = {
        "name": lambda i: (i["row"].name.casefold(), i["row"].id),
        "checks": lambda i: (CHECK_ORDER.get(i["checks"], 4), i["row"].name.casefold(), i["row"].id),
        "plugin": lambda i: (i["row"].plugin, i["row"].name.casefold(), i["row"].id),
        "created": lambda i: (-i["row"].created_at, i["row"].id),
    }
    return sorted(items, key=keys[sort])


@bp.get("/")
def overview():
    state = get_state()
    health: dict = {}
    rows = []
    figures, items, counts = {}, [], {}
    connection = None
    query = (request.args.get("q") or "").strip()
    checks = request.args.get("checks") or ""
    sort = request.args.get("sort") if request.args.get("sort") in SORTS else "name"
    try:
        number = max(1, int(request.args.get("page") or 1))
    except ValueError:
        number = 1
    total = 0
    if database_health(state, health):
        listing, counts = _listing(state)
        items = _chosen(listing, query, checks if checks in CHECK_ORDER or checks == "disabled" else "", sort)
        total = len(items)
        number = min(number, max(1, -(-total // OVERVIEW_PAGE)))
        items = items[(number - 1) * OVERVIEW_PAGE:number * OVERVIEW_PAGE]
        figures = UiQueries(state.db.engine).figures(now(), [i["row"].id for i in items])
        connection = _connection_tile(state)
    health["workers"] = workers_health(state)
    for item in items:
        row = item["row"]
        plugin = state.host.plugins.get(row.plugin)
        own = figures.get(row.id) or IntegrationFigures()
        rows.append({
            "row": row, "plugin": plugin, "figures": own, "checks": item["checks"],
            "chart": hourly_chart(own.delivered_per_hour, own.failed_per_hour),
            "webhook_url": (webhook_base() + f"/webhooks/integrations/{row.id}")
            if plugin is not None and plugin.has_hook("receive_webhook") else None,
        })
    pages = max(1, -(-total // OVERVIEW_PAGE))
    here = {k: v for k, v in (("q", query), ("checks", checks), ("sort", sort if sort != "name" else "")) if v}
    return render_template(
        "ui/overview.html", title="Overview", integrations=rows, health=health,
        unsigned=not state.settings.launchdarkly_secret and not (connection and connection["signing"]),
        connection=connection, counts=counts, total=total, query=query, checks=checks, sort=sort, sorts=SORTS,
        page=number, pages=pages,
        previous_link=url_for("gateway_ui.overview", **here, page=number - 1) if number > 1 else None,
        next_link=url_for("gateway_ui.overview", **here, page=number + 1) if number < pages else None,
        flag_webhook_url=webhook_base() + "/webhooks/launchdarkly",
    )


@bp.get("/plugins")
def plugins():
    state = get_state()
    loaded = sorted(state.host.plugins.values(), key=lambda p: p.key)
    schemas = {p.key: config_json_schema(p) for p in loaded if p.kind == "integration"}
    return render_template("ui/plugins.html", title="Plugins", plugins=loaded, schemas=schemas,
                           refused=state.host.refused, filtered=state.host.filtered)
