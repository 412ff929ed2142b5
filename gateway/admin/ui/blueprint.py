"""The web UI's blueprint: ``/ui/``, its templates and static files, the sign-in (with a token whose
role allows the page, :mod:`gateway.admin.roles`) and CSRF checks, the security headers and the error
pages. A page shows only the buttons and forms its viewer's role may use."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from gateway.admin import roles
from gateway.responses import ALL_METHODS, allowed_methods
from gateway.request_text import nul_problem
from gateway.host.state import get_state
from gateway.admin.ui import headers, session

bp = Blueprint("gateway_ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static",
               static_url_path="/static")

OPEN_ENDPOINTS = frozenset({"gateway_ui.sign_in", "gateway_ui.static", "gateway_ui.unmatched"})


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
    problem = nul_problem(forms=True)
    if problem:
        return render_template("ui/error.html", title="Refused", message=problem[0].upper() + problem[1:] + "."), 400
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


def _unmatched(path: str = ""):
    """Every other path and method under /ui/: the UI's own "not found" or "not allowed" page (with
    ``Allow``), with its security headers, rather than the gateway's JSON or Flask's bare HTML."""
    allowed = [method for method in allowed_methods() if method not in (request.method, "OPTIONS")]
    if allowed:
        response = current_app.make_response((render_template(
            "ui/error.html", title="Not allowed",
            message=f"This page does not take a {request.method} request."), 405))
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return render_template("ui/error.html", title="Not found", message="There is nothing here."), 404


bp.add_url_rule("/<path:path>", "unmatched", _unmatched, methods=ALL_METHODS)
