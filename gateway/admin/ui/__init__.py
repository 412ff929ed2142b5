"""The admin web UI under ``/ui/``: server-rendered pages over the same operations as the admin API.

Every page needs a sign-in with a token (:mod:`.session`) whose role allows the page
(:mod:`gateway.admin.roles`); a page shows only what that role may use; every form carries a CSRF token;
every answer carries the security headers (:mod:`.headers`). Pages work without JavaScript; the one
static script only adds conveniences (copy buttons, adding form rows in place, filtering long menus).
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

from gateway.admin.ui.blueprint import bp, safe_next  # noqa: F401  (safe_next: used from here)
from gateway.admin.ui import access_pages, connection_pages, filters, integration_pages, list_pages, overview_pages  # noqa: F401  (routes)


def register(app: Flask) -> None:
    """Add the UI to ``app``."""
    app.register_blueprint(bp)


def root_link():
    """``GET /`` of the standalone gateway: the way to the UI."""
    return redirect(url_for("gateway_ui.overview"))


__all__ = ["bp", "register", "root_link"]
