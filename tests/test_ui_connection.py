"""The web UI's flag-platform page through Flask's test client, against the fake flag-platform API
over real HTTP on loopback: connect, change, check, rotate, rewire and disconnect, each through the
same code as the API and recorded with origin ``ui``; the stored checks of an integration with their
time, staleness and a refresh; and a delivery's warnings on the delivery and event pages."""

from __future__ import annotations

import html as html_module
import logging
import re

import pytest
from markupsafe import escape

from gateway import Delivered, hookimpl
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.host.state import get_state
from gateway.store.base import now

from . import plugins_for_tests as test_plugins
from .conftest import ADMIN_TOKEN, AUTH, fixture_bytes
from .ui_support import UiClient, checked, field_error

TOKEN = "api-0123456789-ui-connection-token"
PUBLIC = "https://gw.example.com"
PAGE = "/ui/flag-platform"
FLAG_ON = fixture_bytes("launchdarkly/flag-turned-on-production.json")
WARNING = "metric 'sentry-errors' is missing in project 'shop': no experiment counts this import"


class Warner:
    """Delivers every flag change with a warning, as the Sentry plugin does for a missing metric."""

    @hookimpl
    def integration_type(self):
        from marshmallow import Schema

        from gateway import IntegrationType

        return IntegrationType(key="warner", name="Warner", description="delivers with a warning", config_schema=Schema,
                               default_policy=test_plugins.ALLOW_ALL_FLAGS)

    @hookimpl
    def deliver_event(self, event, config):
        return Delivered("imported", warnings=(WARNING,))


@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production"})
        yield fake


@pytest.fixture
def ui_app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_RETRY_SCHEDULE": "0"},
                    plugins=(("picky", test_plugins.Picky()), ("warner", Warner())))


@pytest.fixture
def ui_state(ui_app):
    return get_state(ui_app)


@pytest.fixture
def ui(ui_app):
    return UiClient(ui_app.test_client())


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")

    def messages():
        return [r.getMessage() for r in caplog.records if r.name == "gateway.audit"
                and not r.getMessage().startswith("admin action ui.sign_in")]
    return messages


def form(platform, **changes):
    data = {"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url, "webhook_name": "Flag Event Gateway",
            "webhook_tags": "event-gateway", "webhook_statements": "", "wire": "on"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def connect(ui, platform, **changes):
    response = ui.post(PAGE, data=form(platform, **changes))
    assert response.status_code == 303, response.text
    return ui.get(response.headers["Location"]).text


def the_webhook(platform) -> dict:
    [webhook] = platform.webhooks.values()
    return webhook


def checks_of(html: str) -> dict[str, str]:
    """Each check on the page: its name and colour word."""
    return dict((name, word) for word, name in re.findall(
        r'<li class="check-item state-\w+">\s*<span class="badge tone-\w+">(\w+)</span>\s*<strong>([^<]+)</strong>', html))


def secret_free(html: str, *secrets: str) -> bool:
    return not any(s in html or s in html_module.unescape(html) for s in secrets)


# sign-in and CSRF --------------------------------------------------------------------------------

def test_the_pages_need_a_sign_in_and_every_form_its_csrf_token(ui_app, ui, ui_state, platform):
    client = ui_app.test_client()
    for path in (PAGE, f"{PAGE}/disconnect"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/ui/sign-in?next="), path
    posts = (PAGE, f"{PAGE}/rotate-secret", f"{PAGE}/rewire", f"{PAGE}/check", f"{PAGE}/disconnect")
    for path in posts:  # no session at all
        response = client.post(path, data=form(platform))
        assert response.status_code == 400 and "This form expired" in response.text, path
    for path in posts:  # a session, but the wrong token
        response = ui.client.post(path, data={**form(platform), "csrf_token": "not-the-token"})
        assert response.status_code == 400 and "This form expired" in response.text, path
    assert ui_state.connection.current() is None and platform.received() == []


def test_the_page_is_in_the_nav_and_on_the_overview(ui):
    overview = ui.get("/ui/").text
    assert re.search(r'<a href="/ui/flag-platform"\s*>Flag platform</a>', overview)
    assert re.search(r'<a class="badge tone-muted" href="/ui/flag-platform">not connected</a>', overview)
    page = ui.get(PAGE)
    assert page.status_code == 200
    assert '<span class="badge tone-muted">not connected</span>' in page.text
    assert 'aria-current="page">Flag platform</a>' in page.text


# connecting --------------------------------------------------------------------------------------

def test_connecting_through_the_form_wires_a_signed_webhook_and_never_shows_a_secret(ui, ui_state, platform, audit_log):
    page = ui.get(PAGE).text
    assert re.search(r'<input type="password" id="f-api_token" name="api_token" value=""', page)
    html = connect(ui, platform)
    webhook = the_webhook(platform)
    [created] = platform.calls("POST", "/api/v2/webhooks")
    assert created.header("Authorization") == TOKEN
    assert webhook["url"] == PUBLIC + "/webhooks/launchdarkly" and webhook["on"] is True and webhook["secret"]
    assert f"Connected to the flag platform; the webhook {webhook['_id']} is created." in html
    assert '<span class="badge tone-ok">connected</span>' in html
    assert f"<code>{platform.url}</code>" in html and f"<code>{PUBLIC}</code>" in html
    assert f"<code>{webhook['_id']}</code>" in html and "<code>****oken</code>" in html
    # the token field is still a password input, left empty, saying what is stored
    assert re.search(r'<input type="password" id="f-api_token" name="api_token" value=""', html)
    assert "Stored: ****oken. Leave blank to keep it." in html
    assert checks_of(html) == {"flag-platform API": "green", "webhook exists": "green", "webhook on": "green",
                               "webhook URL": "green", "webhook signed": "green", "last event": "green"}
    assert re.search(r'Checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ s ago\)', html)
    for path in (PAGE, f"{PAGE}/disconnect", "/ui/", "/ui/events", "/ui/deliveries", "/ui/plugins"):
        assert secret_free(ui.get(path).text, TOKEN, webhook["secret"], ADMIN_TOKEN), path
    assert audit_log() == [f"admin action connection.connect origin=ui api_url={platform.url} public_url={PUBLIC} "
                           f"webhook=created webhook_id={webhook['_id']}"]
    assert ui_state.connection.current().api_token == TOKEN


def test_the_overview_says_connected_and_drops_the_unsigned_banner(ui, platform):
    assert "Unsigned flag-change webhooks are accepted." in ui.get("/ui/").text
    connect(ui, platform)
    overview = ui.get("/ui/").text
    assert "Unsigned flag-change webhooks are accepted." not in overview
    assert re.search(r'<a class="badge tone-ok" href="/ui/flag-platform">connected, checks green</a>', overview)


def test_errors_show_at_their_fields_all_at_once_keeping_what_was_typed(ui, ui_state, platform, audit_log):
    response = ui.post(PAGE, data=form(platform, api_token="", public_url="https://gw.example.com/x?y=1",
                                       webhook_statements="[{not json", webhook_tags="ok\n" + "t" * 70))
    assert response.status_code == 400
    html = response.text
    assert field_error(html, "api_token") == ["Missing data for required field."]
    assert field_error(html, "public_url") == ["enter the gateway's base URL without ?query or #fragment"]
    assert field_error(html, "webhook_statements")[0].startswith("the statements are not valid JSON:")
    assert field_error(html, "webhook_tags") == ["1: Length must be between 1 and 64."]
    assert 'value="https://gw.example.com/x?y=1"' in html and "[{not json</textarea>" in html
    assert 'href="#f-public_url">public_url</a>' in html  # the summary links to the field
    assert ui_state.connection.current() is None and platform.received() == []
    assert audit_log() == ["admin action connection.connect origin=ui result=refused (400)"]


def test_statements_the_policy_engine_refuses_show_at_their_field(ui, ui_state, platform):
    response = ui.post(PAGE, data=form(platform, webhook_statements='[{"effect": "maybe"}]'))
    assert response.status_code == 400
    [message] = field_error(response.text, "webhook_statements")
    assert message.startswith("not a valid list of policy statements:")
    assert ui_state.connection.current() is None


def test_a_token_the_platform_refuses_is_said_on_the_form_and_nothing_is_kept(ui, ui_state, platform, audit_log):
    response = ui.post(PAGE, data=form(platform, api_token="api-wrong-token-000000"))
    assert response.status_code == 400
    assert "not connected:" in response.text and "Invalid access token" in response.text
    assert 'role="alert"' in response.text and "api-wrong-token-000000" not in response.text
    assert ui_state.connection.current() is None and platform.webhooks == {}
    assert audit_log() == ["admin action connection.connect origin=ui result=refused (400)"]


def test_changing_with_the_token_left_blank_keeps_it_and_updates_the_webhook(ui, ui_state, platform, audit_log):
    connect(ui, platform)
    html = connect(ui, platform, api_token="", public_url="https://new.example.com",
                   webhook_tags="event-gateway\nteam-a")
    webhook = the_webhook(platform)
    assert webhook["url"] == "https://new.example.com/webhooks/launchdarkly" and webhook["tags"] == ["event-gateway", "team-a"]
    [patch] = platform.calls("PATCH")
    assert patch.header("Authorization") == TOKEN
    assert f"Connection saved; the webhook {webhook['_id']} is updated." in html
    assert ui_state.connection.current().api_token == TOKEN
    assert audit_log()[-1] == (f"admin action connection.connect origin=ui api_url={platform.url} "
                               f"public_url=https://new.example.com webhook=updated webhook_id={webhook['_id']}")


def test_storing_without_wiring_then_wiring_from_the_page(ui, ui_state, platform, audit_log):
    html = connect(ui, platform, wire=None)
    assert platform.webhooks == {} and "the webhook was not wired" in html
    assert checks_of(html) == {"webhook exists": "amber"}
    response = ui.post(f"{PAGE}/rewire")
    assert response.status_code == 303
    html = ui.get(PAGE).text
    webhook = the_webhook(platform)
    assert f"The webhook {webhook['_id']} is created." in html
    assert checks_of(html)["webhook exists"] == "green"
    assert audit_log()[-1] == f"admin action connection.rewire origin=ui webhook=created webhook_id={webhook['_id']}"


# checks, rotation, rewiring ----------------------------------------------------------------------

def test_a_webhook_turned_off_shows_red_after_a_refresh_and_rewiring_makes_it_green(ui, platform, audit_log):
    connect(ui, platform)
    webhook = the_webhook(platform)
    webhook["on"] = False
    assert checks_of(ui.get(PAGE).text)["webhook on"] == "green"  # the stored result, until checked again
    response = ui.post(f"{PAGE}/check")
    assert response.status_code == 303
    html = ui.get(PAGE).text
    assert checks_of(html)["webhook on"] == "red" and "the webhook is turned off" in html
    assert "Checks run: 6 check(s), the worst is error." in html
    assert re.search(r'<button type="submit" class="primary">Wire the webhook again<span class="visually-hidden"> '
                     r'to fix webhook on</span></button>', html)
    ui.post(f"{PAGE}/rewire")
    assert webhook["on"] is True
    assert set(checks_of(ui.get(PAGE).text).values()) == {"green"}  # rewiring runs the checks again
    assert audit_log()[-1] == f"admin action connection.rewire origin=ui webhook=updated webhook_id={webhook['_id']}"


def test_rotating_the_secret_keeps_the_old_one_for_the_grace_period(ui, ui_state, platform, audit_log):
    connect(ui, platform)
    old = the_webhook(platform)["secret"]
    ui.post(f"{PAGE}/rotate-secret")
    html = ui.get(PAGE).text
    new = the_webhook(platform)["secret"]
    assert new != old and "The webhook has a new signing secret. The previous one is accepted until" in html
    assert "the previous secret is accepted until" in html
    assert secret_free(html, old, new, TOKEN)
    assert set(ui_state.connection.current().signing_secrets(now())) == {old, new}
    assert audit_log()[-1] == "admin action connection.rotate_secret origin=ui result=rotated"


def test_actions_without_a_connection_say_so(ui, platform, audit_log):
    for path, text in ((f"{PAGE}/rotate-secret", "The secret was not rotated: the gateway is not connected"),
                       (f"{PAGE}/rewire", "The webhook was not wired: the gateway is not connected"),
                       (f"{PAGE}/check", "there is nothing to check")):
        assert ui.post(path).status_code == 303
        assert text in ui.get(PAGE).text, path
    assert ui.get(f"{PAGE}/disconnect").status_code == 303
    assert audit_log() == ["admin action connection.rotate_secret origin=ui result=refused (404)",
                           "admin action connection.rewire origin=ui result=refused (404)"]


# disconnecting -----------------------------------------------------------------------------------

def test_disconnect_asks_first_and_can_keep_the_webhook(ui, ui_state, platform, audit_log):
    connect(ui, platform)
    webhook_id = the_webhook(platform)["_id"]
    confirm = ui.get(f"{PAGE}/disconnect").text
    assert re.search(r'<input type="checkbox" id="f-keep_webhook" name="keep_webhook"', confirm)
    assert '<label for="f-keep_webhook">Leave the webhook in the flag platform</label>' in confirm
    assert ui_state.connection.current() is not None  # asking changes nothing
    response = ui.post(f"{PAGE}/disconnect", data={"keep_webhook": "on"})
    assert response.status_code == 303
    html = ui.get(PAGE).text
    assert "Disconnected from the flag platform; the webhook was left in the flag platform." in html
    assert ui_state.connection.current() is None and webhook_id in platform.webhooks
    assert audit_log()[-1] == f"admin action connection.disconnect origin=ui webhook=kept webhook_id={webhook_id}"


def test_disconnect_deletes_the_webhook_and_stays_connected_when_it_cannot(ui, ui_state, platform, audit_log):
    connect(ui, platform)
    webhook_id = the_webhook(platform)["_id"]
    platform.down = True
    ui.post(f"{PAGE}/disconnect")
    html = ui.get(PAGE).text
    assert "Not disconnected: still connected: the webhook could not be deleted" in html
    assert ui_state.connection.current() is not None
    assert audit_log()[-1] == "admin action connection.disconnect origin=ui result=refused (502)"
    platform.down = False
    ui.post(f"{PAGE}/disconnect")
    assert "the webhook was deleted" in ui.get(PAGE).text
    assert platform.webhooks == {} and ui_state.connection.current() is None
    assert audit_log()[-1] == f"admin action connection.disconnect origin=ui webhook=deleted webhook_id={webhook_id}"


def test_the_api_goes_through_the_same_actions_recorded_with_origin_api(ui_app, platform, audit_log):
    client = ui_app.test_client()
    answer = client.put("/api/v1/connections/launchdarkly", headers=AUTH,
                        json={"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url})
    assert answer.status_code == 200
    webhook_id = the_webhook(platform)["_id"]
    assert client.post("/api/v1/connections/launchdarkly/rotate-secret", headers=AUTH).status_code == 200
    assert client.delete("/api/v1/connections/launchdarkly", headers=AUTH).status_code == 200
    bad = client.put("/api/v1/connections/launchdarkly", headers=AUTH, json={"public_url": PUBLIC})
    assert bad.status_code == 400 and bad.get_json()["errors"] == {"api_token": ["Missing data for required field."]}
    assert audit_log() == [
        f"admin action connection.connect origin=api api_url={platform.url} public_url={PUBLIC} webhook=created "
        f"webhook_id={webhook_id}",
        "admin action connection.rotate_secret origin=api result=rotated",
        f"admin action connection.disconnect origin=api webhook=deleted webhook_id={webhook_id}",
        "admin action connection.connect origin=api result=refused (400)"]


def test_every_input_of_the_pages_has_a_label_and_every_button_a_name(ui, platform):
    connect(ui, platform)
    for path in (PAGE, f"{PAGE}/disconnect"):
        html = ui.get(path).text
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'\bid="([^"]+)"', tag)
            assert found and re.search(rf'<label[^>]*\bfor="{re.escape(found.group(1))}"', html), (path, tag)
        for button in re.findall(r"<button\b[^>]*>(.*?)</button>", html, flags=re.S):
            assert re.sub(r"<[^>]+>", "", button).strip(), (path, button)
        assert html.count('name="csrf_token"') == html.count("<form") , path


# an integration's stored checks --------------------------------------------------------------------

def test_the_integration_page_shows_when_the_checks_ran_if_stale_and_runs_them_again(ui, ui_state):
    row = ui_state.integrations.create({"plugin": "picky", "name": "Picky", "enabled": True,
                                        "config": {"wanted_tag": "missing"}})
    page = f"/ui/integrations/{row.id}"
    html = ui.get(page).text  # never checked: the page answers at once, the checks run in the background
    assert "Not checked yet: the checks are running in the background" in html
    html = checked(ui, page)
    assert re.search(r'Checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ s ago\)', html)
    assert "stale" not in html and checks_of(html) == {"tag": "red"}
    ui_state.integrations.update(ui_state.db.integrations.get(row.id), {"config": {"wanted_tag": "blue"}})
    html = ui.get(page).text
    assert '<span class="badge tone-warning">stale</span> the integration changed since' in html
    assert checks_of(html) == {"tag": "red"}  # still the stored result
    assert re.search(r'<form method="post" action="/ui/integrations/[^"]+/check" class="inline">', html)
    response = ui.post(f"{page}/check")
    assert response.status_code == 303
    html = ui.get(page).text
    assert "The checks are running in the background" in html
    html = checked(ui, page, lambda text: "stale" not in text)
    assert checks_of(html) == {"tag": "green"}
    assert ui.client.post(f"{page}/check", data={"csrf_token": "wrong"}).status_code == 400
    assert ui.post("/ui/integrations/nope/check").status_code == 404


# a delivery's warnings -----------------------------------------------------------------------------

def test_a_delivery_with_a_warning_shows_it_on_the_delivery_event_and_integration_pages(ui_app, ui, ui_state):
    from gateway.delivery import Deliverer

    row = ui_state.integrations.create({"plugin": "warner", "name": "Warner", "enabled": True, "config": {}})
    answer = ui_app.test_client().post("/webhooks/launchdarkly", data=FLAG_ON, content_type="application/json")
    assert answer.status_code == 202
    while (delivery := ui_state.db.deliveries.claim("w", 30, now())) is not None:
        Deliverer(ui_state, "w").attempt(delivery)
    event_id = answer.get_json()["event_id"]
    [delivery] = ui_state.db.deliveries.for_event(event_id)
    assert delivery.status == "delivered"
    shown = str(escape(WARNING))
    event_html = ui.get(f"/ui/events/{event_id}").text
    assert '<span class="badge tone-ok">delivered</span> <span class="badge tone-warning">with a warning</span>' in event_html
    assert f'<p class="notice notice-warning delivery-warning"><strong>Warning:</strong> {shown}</p>' in event_html
    for path in ("/ui/deliveries", f"/ui/integrations/{row.id}"):
        html = ui.get(path).text
        assert f'<p class="delivery-warning"><span class="badge tone-warning">warning</span> {shown}</p>' in html, path
