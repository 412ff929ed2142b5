"""The web UI in a real headless Chromium against a real ``event-gateway serve`` over HTTP, with a
fake Dynatrace and a fake flag-platform API on loopback."""

from __future__ import annotations

import re

import json

import pytest
import requests

from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from .conftest import FIXTURES
from .ui_browser_support import BrowserSession, FakeFlagPlatform, require_chromium, screenshot

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

DT_TOKEN = "dt0c01.BROWSERTEST.SECRETPARTSECRETPARTSECRETPART"
SENTRY_SECRET = "sentry-client-secret-browser-1234"
LD_TOKEN = "api-browser-access-token-5678"
INGEST_OK = json.loads((FIXTURES / "dynatrace" / "ingest-201-ok.json").read_text())


@pytest.fixture(scope="module")
def chromium():
    return require_chromium()


@pytest.fixture(scope="module")
def dynatrace():
    with FakeService(Reply(201, INGEST_OK)) as service:
        yield service


@pytest.fixture(scope="module")
def flag_platform():
    metrics = FakeFlagPlatform({"shop": [{"key": "sentry-errors", "name": "Sentry errors", "eventKey": "sentry-errors",
                                          "isNumeric": False}], "payments": []})
    with FakeService(metrics) as service:
        service.metrics = metrics
        yield service


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, chromium):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_WORKERS": "2", "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2",
           "GATEWAY_PLUGINS": "dynatrace,sentry"}
    with GatewayProcess(str(tmp_path_factory.mktemp("ui-gateway")), env=env) as process:
        yield process


@pytest.fixture
def browser(chromium):
    session = BrowserSession(chromium)
    yield session
    session.close()


def sign_in(page, gateway, path="/ui/"):
    page.goto(gateway.url + path)
    assert "/ui/sign-in" in page.url
    page.get_by_label("Token", exact=True).fill(gateway.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(gateway.url + path)


def test_sign_in_with_the_keyboard_sets_a_safe_session_cookie_and_sign_out_ends_it(browser, gateway):
    page = browser.page
    page.goto(gateway.url + "/")
    assert page.url.startswith(gateway.url + "/ui/sign-in")
    from playwright.sync_api import expect

    screenshot(page, "ui-sign-in", full_page=False)
    # Chromium moves the focus to an autofocus field when it next renders, which
    # can come after the load event on a busy machine: wait for it, then type.
    expect(page.get_by_label("Token", exact=True)).to_be_focused()
    page.keyboard.type(gateway.admin_token)
    page.keyboard.press("Enter")
    page.wait_for_url(gateway.url + "/ui/")

    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="Unsigned flag-change webhooks are accepted")).to_be_visible()
    [cookie] = [c for c in browser.context.cookies() if c["name"] == "gateway_ui_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui/"
    assert gateway.admin_token not in cookie["value"]
    assert gateway.admin_token not in page.content()
    copy = page.locator("button[data-copy=flag-webhook-url]")
    expect(copy).to_have_accessible_name("Copy the Flag platform webhook URL")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == gateway.url + "/webhooks/launchdarkly"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(gateway.url + "/ui/sign-in")
    page.goto(gateway.url + "/ui/events")
    assert "/ui/sign-in" in page.url
    assert not browser.console_errors, browser.console_errors


def test_dynatrace_through_the_generated_form_then_a_webhook_is_delivered_and_shown(browser, gateway, dynatrace):
    from playwright.sync_api import expect

    page = browser.page
    sign_in(page, gateway)
    page.get_by_role("link", name="Add integration").click()
    page.get_by_role("link", name="Add a Dynatrace").click()
    page.get_by_label("Name").fill("Dynatrace browser")
    page.get_by_label("URL", exact=False).first.fill(dynatrace.url)
    page.locator("#f-config-api_token").fill(DT_TOKEN)
    assert page.locator("#f-config-api_token").get_attribute("type") == "password"
    menu = page.locator("#f-config-entity_type")
    assert menu.locator("option").count() >= 80  # the whole entity-type list, grouped
    assert menu.locator("optgroup[label=AZURE] option").count() > 10
    page.get_by_label("Filter the entity type choices").fill("process gr")
    shown = menu.evaluate("m => Array.from(m.options).filter(o => !o.hidden).map(o => o.value)")
    assert shown == ["PROCESS_GROUP", "PROCESS_GROUP_INSTANCE"]
    menu.select_option("PROCESS_GROUP_INSTANCE")
    assert "env/production" in page.get_by_label("Policy statements (JSON)").input_value()  # the default
    screenshot(page, "ui-add-dynatrace")
    page.get_by_role("button", name="Create integration").click()

    expect(page.get_by_role("heading", name="Dynatrace browser")).to_be_visible()
    expect(page.get_by_text("Saved Dynatrace browser.")).to_be_visible()
    config = page.locator("dl.config")
    expect(config).to_contain_text("****PART")
    expect(config).to_contain_text("PROCESS_GROUP_INSTANCE")
    assert DT_TOKEN not in page.content()
    integration_id = page.url.rsplit("/", 1)[1]

    sent_before = len(dynatrace.received())
    body = (FIXTURES / "launchdarkly" / "flag-turned-on-production.json").read_bytes()
    answer = gateway.post_webhook(body)
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["event_id"]
    # (api_version auto: the token is looked up first, then the event is sent)
    wait_until(lambda: any(r.path == "/api/v2/events/ingest" for r in dynatrace.received()[sent_before:]),
               message="the event at Dynatrace's ingest endpoint")
    [request] = [r for r in dynatrace.received()[sent_before:] if r.path == "/api/v2/events/ingest"]
    assert request.header("Authorization") == f"Api-Token {DT_TOKEN}"
    assert "PROCESS_GROUP_INSTANCE" in request.json()["entitySelector"]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    page.get_by_label("Flag key or title").fill("new-checkout")
    page.get_by_role("button", name="Filter events").click()
    expect(page.locator("p.list-total")).to_have_text("1 event")  # counted among the newest events
    page.get_by_role("link", name="New checkout flow").first.click()
    assert page.url.endswith(f"/ui/events/{event_id}")
    block = page.locator("article.decision-block").filter(has_text="Dynatrace browser")

    def delivered():
        page.reload()
        return block.locator(".badge", has_text="delivered").count() > 0

    wait_until(delivered, 15, message="the delivery shown as delivered")
    expect(block.locator("table.attempts")).to_contain_text("201")
    expect(block.locator("table.attempts")).to_contain_text(dynatrace.url)
    expect(page.locator("pre.code").last).to_contain_text('"_id": "6561f2a9c1d4e80f3b2a7c11"')  # the raw payload
    assert DT_TOKEN not in page.content()
    screenshot(page, "ui-event")

    page.goto(gateway.url + f"/ui/integrations/{integration_id}")
    expect(page.locator("table")).to_contain_text("delivered")
    page.goto(gateway.url + "/ui/")
    row = page.locator("table.integrations tr").filter(has_text="Dynatrace browser")
    expect(row.locator("svg rect.bar-ok")).to_have_count(1)
    screenshot(page, "ui-overview")
    assert not browser.console_errors, browser.console_errors


def test_sentry_mappings_as_rows_one_red_until_create_metric_makes_it_green(browser, gateway, flag_platform):
    from playwright.sync_api import expect

    page = browser.page
    sign_in(page, gateway, "/ui/integrations/new?plugin=sentry")
    page.get_by_label("Name").fill("Sentry browser")
    page.locator("#f-config-client_secret").fill(SENTRY_SECRET)
    page.locator("#f-config-access_token").fill(LD_TOKEN)
    page.locator("#f-config-environment_mappings-0-sentry_project").fill("checkout")
    page.locator("#f-config-environment_mappings-0-sentry_environment").fill("production")
    page.locator("#f-config-environment_mappings-0-ld_project").fill("shop")
    page.locator("#f-config-environment_mappings-0-ld_environment").fill("production")
    page.get_by_role("button", name="Add a row to Environment mappings").click()
    rows = page.locator("fieldset.row")
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    expect(second.locator("legend")).to_have_text("Environment mappings: row 2")
    expect(second.get_by_label("Sentry project")).to_be_focused()
    second.get_by_label("Sentry project").fill("payments-api")
    second.get_by_label("Sentry environment").fill("production")
    second.get_by_label("LaunchDarkly project").fill("payments")
    second.get_by_label("LaunchDarkly environment").fill("production")
    page.locator("#f-config-events_url").fill(flag_platform.url)
    page.locator("#f-config-api_url").fill(flag_platform.url)
    screenshot(page, "ui-add-sentry")
    page.get_by_role("button", name="Create integration").click()

    expect(page.get_by_role("heading", name="Sentry browser")).to_be_visible()
    checks = page.locator("li.check-item")
    # the client secret is set; per mapping: its project and environment exist; its metric
    expect(checks).to_have_count(5)
    expect(checks.filter(has_text="Sentry client secret")).to_have_class(re.compile("state-ok"))
    red = page.locator("li.check-item.state-error")
    expect(red).to_have_count(1)
    expect(red).to_contain_text("payments has no metric")
    expect(red.locator(".badge")).to_have_text("red")
    expect(page.locator("li.check-item.state-ok")).to_have_count(4)
    expect(page.locator("li.check-item.state-ok").filter(has_text="metric for")).to_contain_text("shop")
    expect(page.locator("#webhook-url")).to_have_value(f"{gateway.url}/webhooks/integrations/{page.url.rsplit('/', 1)[1]}")
    content = page.content()
    assert SENTRY_SECRET not in content and LD_TOKEN not in content
    screenshot(page, "ui-sentry-red")

    red.get_by_role("button", name="Create metric in payments").click()
    expect(page.get_by_role("status").filter(has_text="created custom conversion metric")).to_be_visible()
    expect(page.locator("li.check-item.state-error")).to_have_count(0)
    expect(page.locator("li.check-item.state-ok")).to_have_count(5)
    [created] = flag_platform.metrics.metrics["payments"]
    assert created["eventKey"] == "sentry-errors"
    posts = [r for r in flag_platform.received("/api/v2/metrics/payments") if r.method == "POST"]
    assert len(posts) == 1 and posts[0].header("Authorization") == LD_TOKEN
    screenshot(page, "ui-sentry-green")
    assert not browser.console_errors, browser.console_errors


def test_a_bad_config_shows_the_error_at_its_field_and_keeps_what_was_typed(browser, gateway):
    from playwright.sync_api import expect

    page = browser.page
    sign_in(page, gateway, "/ui/integrations/new?plugin=dynatrace")
    page.get_by_label("Name").fill("Dynatrace typo")
    page.locator("#f-config-url").fill("https://abc12345.live.dynatrace.com/api/v2/events/ingest")
    page.locator("#f-config-api_token").fill(DT_TOKEN)
    page.locator("#f-config-entity_type").select_option("HOST")
    page.get_by_label("Name").press("Enter")  # saves (not "Try the policy", the first visible button)

    url_field = page.locator("#f-config-url")
    expect(url_field).to_have_attribute("aria-invalid", "true")
    error = page.locator("#f-config-url-error1")
    expect(error).to_contain_text("without /api: here https://abc12345.live.dynatrace.com")
    assert "f-config-url-error1" in url_field.get_attribute("aria-describedby")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary a[href='#f-config-url']")).to_have_text("URL")  # named as the form shows it
    expect(url_field).to_have_value("https://abc12345.live.dynatrace.com/api/v2/events/ingest")
    expect(page.get_by_label("Name")).to_have_value("Dynatrace typo")
    expect(page.locator("#f-config-entity_type")).to_have_value("HOST")
    expect(page.locator("#f-config-api_token")).to_have_value("")  # a secret is never sent back
    assert DT_TOKEN not in page.content()
    screenshot(page, "ui-field-error")
    listed = requests.get(gateway.url + "/api/v1/integrations", timeout=10,
                          headers={"Authorization": f"Bearer {gateway.admin_token}"}).json()["items"]
    assert "Dynatrace typo" not in [i["name"] for i in listed]


def test_pages_fit_a_phone_screen(chromium, gateway):
    session = BrowserSession(chromium, viewport={"width": 375, "height": 740})
    try:
        page = session.page
        sign_in(page, gateway)
        for path in ("/ui/", "/ui/events", "/ui/deliveries", "/ui/plugins", "/ui/integrations/new?plugin=sentry",
                     "/ui/flag-platform"):
            page.goto(gateway.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone screen"
        page.goto(gateway.url + "/ui/")
        screenshot(page, "ui-phone")
        assert not session.console_errors, session.console_errors
    finally:
        session.close()


def test_without_javascript_rows_are_added_by_sending_the_form_and_the_integration_is_created(chromium, gateway,
                                                                                            flag_platform):
    from playwright.sync_api import expect

    session = BrowserSession(chromium, javascript=False)
    try:
        page = session.page
        sign_in(page, gateway, "/ui/integrations/new?plugin=sentry")
        assert page.locator("button[data-copy], input[data-filter-for]").evaluate_all(
            "els => els.every(e => e.hidden)")  # the script's conveniences stay hidden
        page.get_by_label("Name").fill("Sentry without script")
        page.locator("#f-config-environment_mappings-0-sentry_project").fill("storefront")
        page.locator("#f-config-environment_mappings-0-sentry_environment").fill("prod")
        page.locator("#f-config-environment_mappings-0-ld_project").fill("shop")
        page.locator("#f-config-environment_mappings-0-ld_environment").fill("production")
        page.get_by_role("button", name="Add a row to Environment mappings").click()  # a round trip
        rows = page.locator("fieldset.row")
        expect(rows).to_have_count(2)
        expect(page.locator("#f-config-environment_mappings-0-sentry_project")).to_have_value("storefront")
        expect(page.get_by_label("Name")).to_have_value("Sentry without script")
        second = rows.nth(1)
        second.get_by_label("Sentry project").fill("storefront")
        second.get_by_label("Sentry environment").fill("staging")
        second.get_by_label("LaunchDarkly project").fill("shop")
        second.get_by_label("LaunchDarkly environment").fill("staging")
        page.get_by_role("button", name="Add a row to Environment mappings").click()
        expect(rows).to_have_count(3)
        rows.nth(2).get_by_role("button", name="Remove row 3").click()
        expect(rows).to_have_count(2)
        page.locator("#f-config-client_secret").fill(SENTRY_SECRET)  # secrets last: a round trip clears them
        page.locator("#f-config-access_token").fill(LD_TOKEN)
        page.locator("#f-config-events_url").fill(flag_platform.url)
        page.locator("#f-config-api_url").fill(flag_platform.url)
        page.get_by_role("button", name="Create integration").click()
        expect(page.get_by_role("heading", name="Sentry without script")).to_be_visible()
        expect(page.locator("li.check-item")).to_have_count(5)
        # the client secret is set, shop has both environments and the metric
        expect(page.locator("li.check-item.state-ok")).to_have_count(5)
        stored = gateway.admin("GET", "/api/v1/integrations").json()["items"]
        [mine] = [i for i in stored if i["name"] == "Sentry without script"]
        assert [(m["sentry_environment"], m["ld_environment"]) for m in mine["config"]["environment_mappings"]] == [
            ("prod", "production"), ("staging", "staging")]
        page.get_by_role("link", name="Delete…").click()
        page.get_by_role("button", name="Delete Sentry without script").click()
        expect(page.get_by_text("Deleted Sentry without script.")).to_be_visible()
    finally:
        session.close()


def test_connecting_to_the_flag_platform_through_its_page_wires_a_webhook_whose_check_is_green(browser, gateway):
    from playwright.sync_api import expect

    from gateway.kit.fake_flag_platform import FakeFlagPlatform as FakeFlagPlatformApi

    admin = {"Authorization": f"Bearer {gateway.admin_token}"}
    with FakeFlagPlatformApi(LD_TOKEN) as api:
        try:
            page = browser.page
            sign_in(page, gateway)
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Flag platform").click()
            expect(page.get_by_role("heading", name="Flag platform", exact=True)).to_be_visible()
            expect(page.locator("#f-public_url")).to_have_value(gateway.url)  # the address the browser used
            page.get_by_label("API access token").fill(LD_TOKEN)
            page.get_by_label("Flag platform API URL").fill(api.url)
            page.get_by_role("button", name="Connect").click()

            [webhook] = api.webhooks.values()
            expect(page.get_by_role("status").filter(has_text="Connected to the flag platform")).to_contain_text(webhook["_id"])
            assert webhook["url"] == gateway.url + "/webhooks/launchdarkly" and webhook["on"] is True
            assert webhook["secret"] and api.calls("POST", "/api/v2/webhooks")[0].header("Authorization") == LD_TOKEN
            signed = page.locator("li.check-item").filter(has_text="webhook signed")
            expect(signed.locator(".badge")).to_have_text("green")
            expect(page.locator("li.check-item.state-error")).to_have_count(0)
            expect(page.locator("#f-api_token")).to_have_value("")
            content = page.content()
            assert LD_TOKEN not in content and webhook["secret"] not in content
            screenshot(page, "ui-flag-platform")
            assert not browser.console_errors, browser.console_errors
        finally:
            requests.delete(gateway.url + "/api/v1/connections/launchdarkly", headers=admin, timeout=10)


def test_a_policy_denial_is_sent_only_after_the_confirmation_naming_it(browser, gateway, dynatrace):
    from playwright.sync_api import expect

    created = gateway.admin("POST", "/api/v1/integrations", json={
        "plugin": "dynatrace", "name": "Dynatrace production only",
        "config": {"url": dynatrace.url, "api_token": DT_TOKEN}})  # the default policy: production only
    assert created.status_code == 201, created.text
    body = json.loads((FIXTURES / "launchdarkly" / "flag-rules-updated-staging.json").read_text())
    body["_id"] = "browser-override-staging"
    answer = gateway.post_webhook(json.dumps(body).encode())
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["event_id"]
    sent_before = len(dynatrace.received())

    page = browser.page
    sign_in(page, gateway, f"/ui/events/{event_id}")
    block = page.locator("article.decision-block").filter(has_text="Dynatrace production only")
    block.get_by_role("button", name="Replay to Dynatrace production only").click()
    expect(page.get_by_text("Still skipped, nothing was sent")).to_be_visible()
    block.get_by_role("link", name="Send despite the denial…").click()
    expect(page.get_by_role("heading", name="Send event to Dynatrace production only despite its denial?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("policy: denied")
    page.get_by_role("button", name="Send despite the policy denial").click()
    expect(page.get_by_text("Queued for Dynatrace production only despite policy")).to_be_visible()
    expect(block.locator(".decision-history")).to_contain_text("Sent despite the denial from the UI")
    expect(block.locator(".decision-history")).to_contain_text("First decision")
    dynatrace.wait_for(sent_before + 1)
    assert not browser.console_errors, browser.console_errors
