"""Details of the web UI found on the way: addresses from GATEWAY_PUBLIC_URL, never from the Host
header; secrets to type again after a refused save; policies refused with the reason."""

from __future__ import annotations

import html
import json

import pytest

from gateway.host.state import get_state

from . import plugins_for_tests as test_plugins
from .ui_support import UiClient

PUBLIC = "https://gateway.example.com"


@pytest.fixture
def ui_app(make_app):
    return make_app({"GATEWAY_PUBLIC_URL": PUBLIC},
                    plugins=(("inbox", test_plugins.Inbox()), ("recorder", test_plugins.Recorder())))


@pytest.fixture
def ui(ui_app):
    client = ui_app.test_client()
    client.environ_base["HTTP_HOST"] = "attacker.example"  # every request, the sign-in too
    return UiClient(client)


def test_the_integration_page_shows_the_webhook_url_from_the_public_url_not_the_host_header(ui_app, ui):
    row = get_state(ui_app).integrations.create({"plugin": "inbox", "name": "Inbox", "enabled": True,
                                                 "config": {"signing_secret": "s" * 20}})
    page = ui.get(f"/ui/integrations/{row.id}").text
    assert f"{PUBLIC}/webhooks/integrations/{row.id}" in page
    assert "attacker.example" not in page


def test_a_failed_save_names_the_typed_secrets_to_type_again_and_never_shows_them(ui):
    typed = "recorder-token-typed-0123456789"
    response = ui.post("/ui/integrations/new?plugin=recorder", data={
        "name": "Recorder", "enabled": "on", "config.token": typed, "config.url": "not a url",
        "config.label": "x", "policy": "[]"})
    assert response.status_code == 400
    page = response.text
    assert typed not in page
    assert 'id="retype-summary"' in page and 'href="#f-config-token"' in page
    assert 'id="f-config-token-retype"' in page and "Type it again" in page
    blank = ui.post("/ui/integrations/new?plugin=recorder", data={
        "name": "Recorder", "enabled": "on", "config.token": "", "config.url": "not a url", "policy": "[]"})
    assert "retype-summary" not in blank.text  # nothing typed, nothing to type again


@pytest.mark.parametrize("statement, path, reason", [
    ({"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["updateOnn"]},
     "policy[0].actions[0]", 'unknown action "updateOnn": did you mean "updateOn"?'),
    ({"effect": "allow", "resources": ["proj/shop:env/staging:flag"], "actions": ["updateOn"]},
     "policy[0].resources[0]", '"flag" has no key, so the resource is incomplete; write "flag/*"'),
])
def test_a_policy_with_a_misspelt_action_or_an_incomplete_resource_is_refused_not_saved(
        ui_app, ui, statement, path, reason):
    from .conftest import AUTH

    api = ui_app.test_client().post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "r", "config": {"token": "t" * 12}, "policy": [statement]})
    assert api.status_code == 400 and reason in " ".join(api.get_json()["errors"][path])
    page = ui.post("/ui/integrations/new?plugin=recorder", data={
        "name": "r", "enabled": "on", "config.token": "t" * 12, "policy": json.dumps([statement])})
    assert page.status_code == 400 and html.unescape(reason) in html.unescape(page.text)
    assert get_state(ui_app).db.integrations.list() == []


def test_not_found_and_not_allowed_under_ui_are_the_uis_html_pages_with_its_headers(ui_app, ui):
    signed_out = ui_app.test_client()
    for response, status in ((ui.get("/ui/no-such-page"), 404), (signed_out.get("/ui/no/such/page"), 404),
                             (ui.post("/ui/events"), 405), (ui.client.put("/ui/events"), 405)):
        assert response.status_code == status, response.text
        assert response.mimetype == "text/html"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
        assert ("Not found" if status == 404 else "Not allowed") in response.text
    assert ui.post("/ui/events").headers["Allow"] == "GET, HEAD"
    assert ui_app.test_client().get("/api/v1/no-such-thing").is_json  # the API keeps its JSON answers


def test_attempt_outcomes_have_coloured_badges():
    from gateway.admin.ui.filters import tone

    assert (tone("retry"), tone("failed"), tone("lost"), tone("delivered")) == ("warning", "error", "warning", "ok")
