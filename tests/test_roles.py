"""Named tokens with roles: created, listed and revoked through the API and the CLI; every route of
the admin API and the UI declares the role it needs, and each role is tried against every route."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway.admin import roles
from gateway.runtime.admin_token import token_hash
from gateway.command import main
from gateway.host.state import get_state
from gateway.store.tables import api_tokens
from gateway.admin.tokens import RANK, ROLES, USE_RECORD_SECONDS, UseRecorder

from .conftest import ADMIN_TOKEN, AUTH, add_integration
from .ui_support import CSRF, UiClient


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def create(client, name, role, auth=AUTH):
    response = client.post("/api/v1/tokens", json={"name": name, "role": role}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def role_tokens(client):
    """A token per role (the admin token for admin, a named one for the others)."""
    return {"viewer": create(client, "ana", "viewer")["token"], "operator": create(client, "olu", "operator")["token"],
            "admin": create(client, "adele", "admin")["token"]}


# tokens ----------------------------------------------------------------------------------------

def test_a_token_is_shown_once_and_stored_as_a_hash_only(client, state):
    made = create(client, "ci-reader", "viewer")
    secret = made["token"]
    assert secret.startswith("egw_") and len(secret) > 40
    assert made["name"] == "ci-reader" and made["role"] == "viewer" and made["created_by"] == "admin"
    listed = client.get("/api/v1/tokens", headers=AUTH).get_json()["items"]
    assert [t["name"] for t in listed] == ["ci-reader"]
    assert "token" not in listed[0] and secret not in str(listed)
    with state.db.engine.connect() as connection:
        stored = connection.execute(select(api_tokens)).one()
    assert stored.token_hash == token_hash(secret) and secret not in str(tuple(stored))
    assert client.get("/api/v1/integrations", headers=bearer(secret)).status_code == 200


def test_names_are_checked_and_unique_among_live_tokens(client):
    create(client, "deploy-bot", "operator")
    taken = client.post("/api/v1/tokens", json={"name": "deploy-bot", "role": "viewer"}, headers=AUTH)
    assert taken.status_code == 409 and "revoke it first" in taken.get_json()["error"]
    for body, field in (({"name": "admin", "role": "viewer"}, "name"), ({"name": "x y", "role": "viewer"}, "name"),
                        ({"name": "ok", "role": "root"}, "role"), ({"name": "ok", "role": "viewer", "x": 1}, "x")):
        answer = client.post("/api/v1/tokens", json=body, headers=AUTH)
        assert answer.status_code == 400 and field in answer.get_json()["errors"], (body, answer.get_json())
    client.delete("/api/v1/tokens/deploy-bot", headers=AUTH)
    assert client.post("/api/v1/tokens", json={"name": "deploy-bot", "role": "viewer"}, headers=AUTH).status_code == 201


def test_a_revoked_token_is_refused_at_once_by_every_node(make_app):
    first = make_app()
    second = make_app(instance=get_state(first).settings.instance_path)  # another node of the same database
    one, two = first.test_client(), second.test_client()
    secret = create(one, "temp", "operator")["token"]
    assert two.get("/api/v1/events", headers=bearer(secret)).status_code == 200
    assert one.delete("/api/v1/tokens/temp", headers=AUTH).status_code == 204
    for client in (one, two):
        answer = client.get("/api/v1/events", headers=bearer(secret))
        assert answer.status_code == 401
    listed = one.get("/api/v1/tokens", headers=AUTH).get_json()["items"]
    assert listed == []
    assert one.delete("/api/v1/tokens/temp", headers=AUTH).status_code == 404
    assert one.delete("/api/v1/tokens/admin", headers=AUTH).status_code == 409


def test_a_revoked_token_ends_its_ui_sessions(app, client):
    secret = create(client, "browser", "viewer")["token"]
    ui = UiClient(app.test_client(), secret)
    assert ui.get("/ui/events").status_code == 200
    client.delete("/api/v1/tokens/browser", headers=AUTH)
    assert ui.get("/ui/events").status_code == 302  # back to sign-in


def test_last_use_is_recorded_with_its_origin_at_most_once_a_minute(client, state):
    secret = create(client, "poller", "viewer")["token"]
    assert client.get("/api/v1/tokens", headers=AUTH).get_json()["items"][0]["last_used_at"] is None
    client.get("/api/v1/events", headers=bearer(secret))
    used = client.get("/api/v1/tokens", headers=AUTH).get_json()["items"][0]
    assert used["last_used_at"] is not None and used["last_used_origin"] == "api"
    writes = []
    state.db.api_tokens.used = lambda *args: writes.append(args)
    for _ in range(5):
        assert client.get("/api/v1/events", headers=bearer(secret)).status_code == 200
    assert writes == []  # within the minute: no write per request

    clock = [0.0]
    recorder = UseRecorder(clock=lambda: clock[0])
    assert recorder.due("t") and not recorder.due("t")
    clock[0] += USE_RECORD_SECONDS - 1
    assert not recorder.due("t") and recorder.due("u")
    clock[0] += 1
    assert recorder.due("t")


def test_the_admin_token_keeps_working_as_admin(client):
    assert client.post("/api/v1/tokens", json={"name": "n", "role": "admin"}, headers=AUTH).status_code == 201
    assert client.get("/api/v1/audit", headers=AUTH).status_code == 200


def test_wrong_tokens_still_count_for_the_throttle(make_app):
    app = make_app({"GATEWAY_AUTH_FAILURES_ALLOWED": "2"})
    client = app.test_client()
    secret = create(client, "someone", "viewer")["token"]
    for _ in range(2):
        assert client.get("/api/v1/events", headers=bearer(secret + "x")).status_code == 401
    assert client.get("/api/v1/events", headers=bearer(secret)).status_code == 429


def test_tokens_through_the_cli(app):
    runner = app.test_cli_runner()
    made = runner.invoke(main, ["tokens", "create", "nightly", "--role", "operator"])
    assert made.exit_code == 0, made.output
    secret = re.search(r'"token": "([^"]+)"', made.output).group(1)
    assert app.test_client().get("/api/v1/events", headers=bearer(secret)).status_code == 200
    listed = runner.invoke(main, ["tokens", "list"])
    assert '"nightly"' in listed.output and secret not in listed.output and '"created_by": "cli:' in listed.output
    refused = runner.invoke(main, ["tokens", "create", "nightly", "--role", "viewer"])
    assert refused.exit_code != 0 and "exists" in refused.output
    assert runner.invoke(main, ["tokens", "revoke", "nightly"]).exit_code == 0
    assert app.test_client().get("/api/v1/events", headers=bearer(secret)).status_code == 401
    assert '"nightly"' in runner.invoke(main, ["tokens", "list", "--revoked"]).output


# roles -----------------------------------------------------------------------------------------

def _checked_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(("gateway_api.", "gateway_ui."))]


def test_every_route_declares_its_role(app):
    """Fails when a route of the admin API or the UI is added without a role in gateway.admin.roles."""
    missing = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                     if rule.endpoint not in roles.ROUTE_ROLES and rule.endpoint not in roles.PUBLIC_ENDPOINTS)
    assert missing == [], f"routes without a role in gateway/admin/roles.py ROUTE_ROLES: {missing}"
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(set(roles.ROUTE_ROLES) - endpoints)
    assert stale == [], f"roles of routes that do not exist: {stale}"
    assert set(roles.ROUTE_ROLES.values()) <= set(ROLES) | {roles.OPEN}


def _url(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "no-such-" + m.group(1).replace("_", "-"), rule.rule)


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_each_role_against_every_api_route(app, client, role_tokens):
    tried = 0
    for rule in _checked_rules(app):
        if not rule.endpoint.startswith("gateway_api."):
            continue
        needed = roles.ROUTE_ROLES[rule.endpoint]
        for method in _methods(rule):
            for role, secret in role_tokens.items():
                answer = client.open(_url(rule), method=method, headers=bearer(secret))
                tried += 1
                if RANK[role] >= RANK[needed]:
                    assert answer.status_code != 403, (role, method, rule.rule, answer.get_json())
                else:
                    assert answer.status_code == 403, (role, method, rule.rule, answer.status_code)
                    assert f"needs the {needed} role" in answer.get_json()["error"]
    assert tried > 60


def test_enabling_is_an_operators_and_editing_an_admins(client, role_tokens):
    row = add_integration(client, "recorder", config={"token": "recorder-token-secret-0001"})
    path = f"/api/v1/integrations/{row['id']}"
    assert client.patch(path, json={"enabled": False}, headers=bearer(role_tokens["viewer"])).status_code == 403
    assert client.patch(path, json={"enabled": False}, headers=bearer(role_tokens["operator"])).status_code == 200
    refused = client.patch(path, json={"name": "renamed"}, headers=bearer(role_tokens["operator"]))
    assert refused.status_code == 403 and "needs the admin role" in refused.get_json()["error"]
    assert client.patch(path, json={"name": "renamed"}, headers=bearer(role_tokens["admin"])).status_code == 200


def _signed_in(app, secret) -> UiClient:
    return UiClient(app.test_client(), secret)


def test_each_role_against_every_ui_route(app, role_tokens):
    tried = 0
    for rule in _checked_rules(app):
        needed = roles.ROUTE_ROLES[rule.endpoint]
        if not rule.endpoint.startswith("gateway_ui.") or needed == roles.OPEN:
            continue
        for method in _methods(rule):
            for role, secret in role_tokens.items():
                ui = _signed_in(app, secret)  # afresh: an allowed sign-out ends the session
                answer = ui.post(_url(rule)) if method == "POST" else ui.get(_url(rule))
                tried += 1
                if RANK[role] >= RANK[needed]:
                    assert answer.status_code != 403, (role, method, rule.rule)
                else:
                    assert answer.status_code == 403, (role, method, rule.rule, answer.status_code)
                    assert f"This needs the {needed} role" in answer.text
    assert tried > 60


# what each role's pages show -------------------------------------------------------------------

FORM = re.compile(r"<form\b[^>]*>", re.S)
ACTION = re.compile(r'action="([^"]*)"')


def _changing_forms(html: str) -> list[str]:
    """The forms of a page that change something: any but GET forms, sign-out and the dry run."""
    found = []
    for form in FORM.findall(html):
        if 'method="get"' in form:
            continue
        action = ACTION.search(form).group(1)
        if action == "/ui/sign-out" or action.endswith("/try"):
            continue
        found.append(form)
    return found


def _viewer_pages(app, client):
    row = add_integration(client, "recorder", config={"token": "recorder-token-secret-0001"})
    from .conftest import fixture_bytes

    answer = client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                         content_type="application/json")
    event_id = answer.get_json()["event_id"]
    return ["/ui/", "/ui/plugins", "/ui/events", f"/ui/events/{event_id}", "/ui/deliveries",
            f"/ui/integrations/{row['id']}", "/ui/flag-platform", "/ui/audit"]


def test_a_viewers_pages_have_no_form_that_changes_anything(app, client, role_tokens):
    pages = _viewer_pages(app, client)
    viewer, admin = _signed_in(app, role_tokens["viewer"]), _signed_in(app, role_tokens["admin"])
    admin_forms = 0
    for path in pages:
        page = viewer.get(path)
        assert page.status_code == 200, path
        assert _changing_forms(page.text) == [], path
        for link in ("/edit", "/delete", "/integrations/new", "/flag-platform/disconnect", "/ui/tokens"):
            assert f'{link}"' not in page.text and f"{link}?" not in page.text, (path, link)
        admin_forms += len(_changing_forms(admin.get(path).text))
    assert admin_forms >= 5  # the same pages offer an admin what it may do


def test_an_operator_sees_operating_forms_but_not_administering_ones(app, client, role_tokens):
    pages = _viewer_pages(app, client)
    operator = _signed_in(app, role_tokens["operator"])
    actions = set()
    for path in pages:
        actions.update(ACTION.search(form).group(1).rsplit("/", 1)[-1] for form in _changing_forms(operator.get(path).text))
    assert {"disable", "retry", "replay-dead"} <= actions
    assert not actions & {"edit", "delete", "rotate-secret", "rewire", "flag-platform", "tokens"}


def test_the_ui_signs_in_with_a_named_token_and_shows_who(app, role_tokens):
    ui = _signed_in(app, role_tokens["operator"])
    assert "olu (operator)" in ui.get("/ui/").text
    client = app.test_client()
    csrf = CSRF.search(client.get("/ui/sign-in").text).group(1)
    assert client.post("/ui/sign-in", data={"csrf_token": csrf, "token": ADMIN_TOKEN}).status_code == 302


def test_a_route_without_a_role_is_refused_to_all_but_admin():
    assert roles.needed("gateway_api.a_route_added_later") == "admin"
    assert roles.needed(None) == "admin"


def test_tokens_through_the_ui_show_the_secret_once(app, client, state):
    admin = UiClient(app.test_client())
    page = admin.post("/ui/tokens", data={"name": "dashboards", "role": "viewer"})
    assert page.status_code == 200
    secret = re.search(r'value="(egw_[^"]+)"', page.text).group(1)
    assert client.get("/api/v1/events", headers=bearer(secret)).status_code == 200
    listing = admin.get("/ui/tokens")
    assert "dashboards" in listing.text and secret not in listing.text
    assert secret not in str(page.headers.get("Set-Cookie", ""))  # never in the session cookie
    refused = admin.post("/ui/tokens", data={"name": "dashboards", "role": "viewer"})
    assert refused.status_code == 409 and "revoke it first" in refused.text
    token_id = state.db.api_tokens.get("dashboards").id
    assert admin.post(f"/ui/tokens/{token_id}/revoke").status_code == 302
    assert client.get("/api/v1/events", headers=bearer(secret)).status_code == 401
    assert "No named tokens" in admin.get("/ui/tokens").text


def test_a_session_from_before_roles_is_the_admin_tokens(state):
    from gateway.store.tables import ui_sessions

    with state.db.engine.begin() as connection:  # as the upgrade leaves a session started before it
        connection.execute(ui_sessions.insert().values(id_hash="1" * 64, started_at=0.0, expires_at=4e9))
    assert state.db.ui_sessions.who("1" * 64, 1.0) == (None, "admin", "admin")
    assert state.db.ui_sessions.who("1" * 64, 5e9) is None  # expired
    assert state.db.ui_sessions.who("2" * 64, 1.0) is None
