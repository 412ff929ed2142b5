"""Sign-in and sign-out, the overview, and the plugins page."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from .. import audit
from ..api.openapi import config_json_schema
from ..health import database_health, workers_health
from ..state import get_state
from ..status import CONNECTION_SUBJECT
from ..store.base import now
from ..tokens import identify
from . import bp, safe_next, session
from .charts import hourly_chart
from .queries import IntegrationFigures, UiQueries


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
    session.clear(request, response)
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


@bp.get("/")
def overview():
    state = get_state()
    health: dict = {}
    rows = []
    figures, integrations = {}, []
    connection = None
    if database_health(state, health):
        figures = UiQueries(state.db.engine).figures(now())
        integrations = state.db.integrations.list()
        connection = _connection_tile(state)
    health["workers"] = workers_health(state)
    for row in integrations:
        plugin = state.host.plugins.get(row.plugin)
        own = figures.get(row.id) or IntegrationFigures()
        rows.append({
            "row": row, "plugin": plugin, "figures": own,
            "chart": hourly_chart(own.delivered_per_hour, own.failed_per_hour),
            "webhook_url": (webhook_base() + f"/webhooks/integrations/{row.id}")
            if plugin is not None and plugin.has_hook("receive_webhook") else None,
        })
    return render_template(
        "ui/overview.html", title="Overview", integrations=rows, health=health,
        unsigned=not state.settings.launchdarkly_secret and not (connection and connection["signing"]),
        connection=connection,
        flag_webhook_url=webhook_base() + "/webhooks/launchdarkly",
    )


@bp.get("/plugins")
def plugins():
    state = get_state()
    loaded = sorted(state.host.plugins.values(), key=lambda p: p.key)
    schemas = {p.key: config_json_schema(p) for p in loaded if p.kind == "integration"}
    return render_template("ui/plugins.html", title="Plugins", plugins=loaded, schemas=schemas,
                           refused=state.host.refused, filtered=state.host.filtered)
