"""The role each route of the admin API and the web UI needs (:mod:`gateway.admin.tokens` has the roles).

One table, by endpoint, so that a route's role is read in one place and a test
(``tests/test_roles.py``) walks ``app.url_map`` and fails for a route that has none. A route missing
here is refused to every role but ``admin`` (fail closed). :data:`OPEN` routes need no sign-in (the
UI's sign-in page and static files); :data:`PUBLIC_ENDPOINTS` are outside the admin API and the UI
(webhooks, health, metrics: each has its own authentication).
"""

from __future__ import annotations

from gateway.responses import ApiError

VIEWER, OPERATOR, ADMIN, OPEN = "viewer", "operator", "admin", "open"

ROUTE_ROLES: dict[str, str] = {
    # admin API: reading
    "gateway_api.unmatched": VIEWER,
    "gateway_api.openapi_document": VIEWER,
    "gateway_api.list_plugins": VIEWER,
    "gateway_api.list_integrations": VIEWER,
    "gateway_api.show_integration": VIEWER,
    "gateway_api.integration_status": VIEWER,
    "gateway_api.list_events": VIEWER,
    "gateway_api.show_event": VIEWER,
    "gateway_api.list_deliveries": VIEWER,
    "gateway_api.show_delivery": VIEWER,
    "gateway_api.show_connection": VIEWER,
    "gateway_api.show_connection_status": VIEWER,
    "gateway_api.evaluate_policy": VIEWER,  # a dry run: nothing is stored or sent
    "gateway_api.explain": VIEWER,  # a dry run too
    "gateway_api.list_audit": VIEWER,
    # admin API: operating
    "gateway_api.retry_delivery": OPERATOR,
    "gateway_api.replay_integration": OPERATOR,
    # sending an event despite its denials overrides what an admin's policy or a plugin's guard decided
    "gateway_api.override_integration": ADMIN,
    "gateway_api.catch_up": OPERATOR,
    "gateway_api.test_integration": OPERATOR,
    "gateway_api.integration_action": OPERATOR,
    "gateway_api.update_integration": OPERATOR,  # enabled only; any other field needs admin (in the view)
    # admin API: administering
    "gateway_api.create_integration": ADMIN,
    "gateway_api.delete_integration": ADMIN,
    "gateway_api.connect": ADMIN,
    "gateway_api.disconnect": ADMIN,
    "gateway_api.rewire": ADMIN,
    "gateway_api.rotate_secret": ADMIN,
    "gateway_api.list_tokens": ADMIN,
    "gateway_api.create_token": ADMIN,
    "gateway_api.revoke_token": ADMIN,
    # web UI
    "gateway_ui.sign_in": OPEN,
    "gateway_ui.unmatched": OPEN,  # the HTML 404/405 page of an unknown /ui/ path
    "gateway_ui.static": OPEN,
    "gateway_ui.sign_out": VIEWER,
    "gateway_ui.overview": VIEWER,
    "gateway_ui.plugins": VIEWER,
    "gateway_ui.events": VIEWER,
    "gateway_ui.event": VIEWER,
    "gateway_ui.deliveries": VIEWER,
    "gateway_ui.integration": VIEWER,
    "gateway_ui.try_integration": VIEWER,  # a dry run
    "gateway_ui.flag_platform": VIEWER,
    "gateway_ui.audit": VIEWER,
    "gateway_ui.retry_delivery": OPERATOR,
    "gateway_ui.replay_dead": OPERATOR,
    "gateway_ui.replay_integration": OPERATOR,
    "gateway_ui.override_integration": ADMIN,
    "gateway_ui.catch_up_flag_platform": OPERATOR,
    "gateway_ui.test_integration": OPERATOR,
    "gateway_ui.integration_action": OPERATOR,
    "gateway_ui.check_integration": OPERATOR,
    "gateway_ui.enable_integration": OPERATOR,
    "gateway_ui.disable_integration": OPERATOR,
    "gateway_ui.check_flag_platform": OPERATOR,
    "gateway_ui.new_integration": ADMIN,
    "gateway_ui.edit_integration": ADMIN,
    "gateway_ui.delete_integration": ADMIN,
    "gateway_ui.connect_flag_platform": ADMIN,
    "gateway_ui.disconnect_flag_platform": ADMIN,
    "gateway_ui.rewire_flag_platform": ADMIN,
    "gateway_ui.rotate_flag_platform_secret": ADMIN,
    "gateway_ui.tokens_page": ADMIN,
    "gateway_ui.create_token": ADMIN,
    "gateway_ui.revoke_token": ADMIN,
}

# Outside the admin API and the UI: not behind a token's role.
PUBLIC_ENDPOINTS = frozenset({
    "gateway_root", "static", "gateway_health.healthz", "gateway_health.metrics",
    "gateway_webhooks.unmatched", "gateway_webhooks.source_webhook", "gateway_webhooks.integration_webhook",
})


def needed(endpoint: str | None) -> str:
    """The role ``endpoint`` needs: :data:`ADMIN` when it has none declared (fail closed)."""
    return ROUTE_ROLES.get(endpoint or "", ADMIN)


def refusal(needed_role: str, principal) -> ApiError:
    """The 403 of a token whose role is not enough, naming the role needed."""
    return ApiError(403, f"this needs the {needed_role} role (or a higher one); the token "
                         f"{principal.name!r} has the {principal.role} role")


def require(needed_role: str) -> None:
    """In a request: refuse (403) unless its token has ``needed_role``."""
    from flask import g

    principal = g.get("principal")
    if principal is None or not principal.may(needed_role):
        raise refusal(needed_role, principal) if principal is not None else ApiError(401, "not signed in")
