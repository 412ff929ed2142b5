"""The admin web UI under ``/ui/``: server-rendered pages over the same operations as the admin API.

Every page needs a sign-in with a token (:mod:`.session`) whose role allows the page
(:mod:`gateway.roles`); a page shows only the buttons and forms that role may use; every form
carries a CSRF token;
every answer carries the security headers (:mod:`.headers`). Pages work without JavaScript; the one
static script only adds conveniences (copy buttons, adding form rows in place, filtering long menus).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for

from .. import roles
from ..state import get_state
from . import headers, session

bp = Blueprint("gateway_ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static",
               static_url_path="/static")

OPEN_ENDPOINTS = frozenset({"gateway_ui.sign_in", "gateway_ui.static"})


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path under /ui/ of this site only."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/ui/") and "\\" not in target:
            return target
    return url_for("gateway_ui.overview")


@bp.before_request
def _require_session():
    if request.endpoint == "gateway_ui.static":
        return None
    g.ui_session = session.load(get_state(), request)
    if request.method == "POST" and not g.ui_session.csrf_ok(request.form.get(session.CSRF_FIELD)):
        g.ui_session.changed = True  # the form gets a token it can use on the next try
        return render_template("ui/error.html", title="Form expired",
                               message="This form expired or did not come from this site. Go back, reload "
                                       "the page and send it again."), 400
    if request.endpoint not in OPEN_ENDPOINTS and not g.ui_session.signed_in:
        return redirect(url_for("gateway_ui.sign_in", next=request.full_path.rstrip("?")))
    g.principal = g.ui_session.principal
    needed = roles.needed(request.endpoint)
    if request.endpoint is not None and needed != roles.OPEN and g.principal is not None and not g.principal.may(needed):
        return render_template("ui/error.html", title="Not allowed",
                               message=f"This needs the {needed} role; you signed in as {g.principal.name}, "
                                       f"with the {g.principal.role} role."), 403
    return None


@bp.after_request
def _finish(response):
    static = request.endpoint == "gateway_ui.static"
    headers.apply(response, static=static)
    ui_session = g.get("ui_session")
    if ui_session is not None and not static and not g.get("ui_signed_out"):
        session.save(get_state(), ui_session, request, response)
    return response


@bp.app_template_global()
def csrf_token() -> str:
    return g.ui_session.csrf


@bp.app_template_global()
def allowed(endpoint: str) -> bool:
    """Whether the signed-in token's role may use ``endpoint`` (pages show only what it may)."""
    principal = g.get("principal")
    return principal is not None and principal.may(roles.needed(endpoint))


@bp.errorhandler(404)
def _not_found(exc):
    return render_template("ui/error.html", title="Not found", message=getattr(exc, "description", "")
                           or "There is nothing here."), 404


@bp.errorhandler(405)
def _not_allowed(exc):
    return render_template("ui/error.html", title="Not allowed", message="This page does not take that request."), 405


def register(app: Flask) -> None:
    """Add the UI to ``app``."""
    app.register_blueprint(bp)


def root_link():
    """``GET /`` of the standalone gateway: the way to the UI."""
    return redirect(url_for("gateway_ui.overview"))


__all__ = ["bp", "register", "root_link"]

from . import access_pages, connection_pages, filters, integration_pages, list_pages, overview_pages  # noqa: E402,F401  (routes)
