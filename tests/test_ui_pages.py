"""The web UI through Flask's test client: sign-in, CSRF, headers, secrets, generated forms and their
errors, and every action going through the same code as the API, recorded with its origin."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask import Flask

from gateway import EventGateway, Failed
from gateway.delivery import Deliverer
from gateway.host.state import get_state
from gateway.store.base import now

from . import plugins_for_tests as test_plugins
from .conftest import ADMIN_TOKEN, AUTH, fixture_bytes
from .delivery_support import Scripted
from .ui_support import CSRF, Forms, UiClient, checked, field_error

RECORDER_TOKEN = "recorder-secret-token-0001"
INBOX_SECRET = "inbox-signing-secret-0002"
FORMS_KEY = "forms-api-key-secret-0003"
SECRETS = (RECORDER_TOKEN, INBOX_SECRET, FORMS_KEY, ADMIN_TOKEN)
FLAG_ON = fixture_bytes("launchdarkly/flag-turned-on-production.json")


@pytest.fixture
def scripted():
    return Scripted()


@pytest.fixture
def forms():
    return Forms()


@pytest.fixture
def ui_app(make_app, scripted, forms):
    plugins = (("recorder", test_plugins.Recorder()), ("picky", test_plugins.Picky()),
               ("inbox", test_plugins.Inbox()), ("leaky", test_plugins.Leaky()), ("scripted", scripted),
               ("forms", forms))
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_RETRY_SCHEDULE": "0"}, plugins=plugins)


@pytest.fixture
def ui_state(ui_app):
    return get_state(ui_app)


@pytest.fixture
def ui(ui_app):
    return UiClient(ui_app.test_client())


def add(state, plugin, name=None, config=None, **extra):
    return state.integrations.create({"plugin": plugin, "name": name or plugin, "enabled": True,
                                      "config": config or {}, **extra})


def deliver_all(state):
    while (delivery := state.db.deliveries.claim("w", 30, now())) is not None:
        Deliverer(state, "w").attempt(delivery)


@pytest.fixture
def populated(ui_state, ui_app, scripted):
    """Integrations with secrets, a webhook with its decisions, a dead delivery and a delivered one."""
    rows = {
        "recorder": add(ui_state, "recorder", "Recorder", {"token": RECORDER_TOKEN}),
        "inbox": add(ui_state, "inbox", "Inbox", {"signing_secret": INBOX_SECRET}),
        "leaky": add(ui_state, "leaky", "Leaky", {"token": RECORDER_TOKEN}),
        "scripted": add(ui_state, "scripted", "Scripted"),
        "picky": add(ui_state, "picky", "Picky", {"wanted_tag": "missing"}),
    }
    scripted.script = [Failed("the target said no")]
    answer = ui_app.test_client().post("/webhooks/launchdarkly", data=FLAG_ON, content_type="application/json")
    assert answer.status_code == 202, answer.text
    deliver_all(ui_state)
    event_id = answer.get_json()["event_id"]
    decisions = {d.integration_name: d for d in ui_state.db.deliveries.for_event(event_id)}
    assert decisions["Scripted"].status == "dead" and decisions["Recorder"].status == "delivered"
    return {"rows": rows, "event_id": event_id, "decisions": decisions}


def page_paths(populated):
    rows, event_id = populated["rows"], populated["event_id"]
    rid = rows["recorder"].id
    return ["/ui/", "/ui/plugins", "/ui/integrations/new", "/ui/integrations/new?plugin=recorder",
            "/ui/integrations/new?plugin=forms", f"/ui/integrations/{rid}", f"/ui/integrations/{rid}/edit",
            f"/ui/integrations/{rid}/delete", f"/ui/integrations/{rows['inbox'].id}",
            f"/ui/integrations/{rows['inbox'].id}/edit", f"/ui/integrations/{rows['leaky'].id}",
            f"/ui/integrations/{rows['picky'].id}", "/ui/events", f"/ui/events/{event_id}",
            "/ui/deliveries", "/ui/deliveries?status=dead"]


def post_paths(populated):
    rows, decisions = populated["rows"], populated["decisions"]
    rid = rows["recorder"].id
    return [f"/ui/integrations/new?plugin=recorder", f"/ui/integrations/{rid}/edit",
            f"/ui/integrations/{rid}/enable", f"/ui/integrations/{rid}/disable", f"/ui/integrations/{rid}/test",
            f"/ui/integrations/{rid}/try", f"/ui/integrations/{rid}/replay", f"/ui/integrations/{rid}/delete",
            f"/ui/integrations/{rows['picky'].id}/actions/set_up",
            f"/ui/deliveries/{decisions['Scripted'].id}/retry", "/ui/deliveries/replay-dead", "/ui/sign-out"]


# sign-in ---------------------------------------------------------------------------------------

def test_every_page_sends_a_signed_out_browser_to_sign_in(ui_app, populated):
    client = ui_app.test_client()
    for path in page_paths(populated):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/ui/sign-in?next="), path
    assert client.get("/").headers["Location"] == "/ui/"


def test_a_post_without_a_session_is_refused_and_changes_nothing(ui_app, ui_state, populated):
    client = ui_app.test_client()
    before = [(r.id, r.enabled, r.updated_at) for r in ui_state.db.integrations.list()]
    for path in post_paths(populated):
        response = client.post(path, data={"name": "x", "since": "0"})
        assert response.status_code == 400, path
        assert "This form expired" in response.text
    assert [(r.id, r.enabled, r.updated_at) for r in ui_state.db.integrations.list()] == before
    assert ui_state.db.deliveries.get(populated["decisions"]["Scripted"].id).status == "dead"


def test_sign_in_sets_a_signed_httponly_lax_cookie_limited_to_the_ui(ui_app, caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")
    client = ui_app.test_client()
    csrf = CSRF.search(client.get("/ui/sign-in?next=/ui/events").text).group(1)
    wrong = client.post("/ui/sign-in", data={"csrf_token": csrf, "token": "not-it", "next": "/ui/events"})
    assert wrong.status_code == 401 and "That is not a token of this gateway" in wrong.text
    assert client.get("/ui/").status_code == 302

    response = client.post("/ui/sign-in", data={"csrf_token": csrf, "token": ADMIN_TOKEN, "next": "/ui/events"})
    assert response.status_code == 302 and response.headers["Location"] == "/ui/events"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ui/" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http
    assert ADMIN_TOKEN not in cookie
    assert client.get("/ui/events").status_code == 200
    # the CSRF token changes at sign-in: one planted before it is worthless after
    assert CSRF.search(client.get("/ui/").text).group(1) != csrf
    assert [r.getMessage() for r in caplog.records] == [
        "admin action ui.sign_in origin=ui result=wrong token client=127.0.0.1",
        "admin action ui.sign_in origin=ui result=signed in client=127.0.0.1"]
    assert "not-it" not in caplog.text and ADMIN_TOKEN not in caplog.text


def test_the_cookie_is_secure_behind_https(ui_app):
    client = ui_app.test_client()
    page = client.get("/ui/sign-in", base_url="https://gateway.example")
    response = client.post("/ui/sign-in", base_url="https://gateway.example",
                           data={"csrf_token": CSRF.search(page.text).group(1), "token": ADMIN_TOKEN})
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_forwarded_proto_header_does_not_decide_the_cookie_the_public_url_does(ui_app, make_app):
    forged = ui_app.test_client().get("/ui/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in forged.headers["Set-Cookie"]  # any client can send it; the proxy is not known
    behind_tls = make_app({"GATEWAY_PUBLIC_URL": "https://gateway.example.com"}, plugins=())
    proxied = behind_tls.test_client().get("/ui/sign-in")  # plain http from the proxy that ends TLS
    assert "Secure" in proxied.headers["Set-Cookie"]


def test_sign_in_only_sends_on_to_the_ui_of_this_site(ui_app):
    for target in ("https://evil.example/ui/", "//evil.example/ui/", "/api/v1/integrations", "/ui\\..\\x"):
        client = ui_app.test_client()
        csrf = CSRF.search(client.get("/ui/sign-in").text).group(1)
        response = client.post("/ui/sign-in", data={"csrf_token": csrf, "token": ADMIN_TOKEN, "next": target})
        assert response.headers["Location"] == "/ui/", target


def test_sign_out_expiry_forgery_and_a_new_admin_token_all_end_the_session(ui_app, make_app, monkeypatch, tmp_path):
    ui = UiClient(ui_app.test_client())
    cookie = ui.client.get_cookie("gateway_ui_session", path="/ui/").value

    fresh = ui_app.test_client()
    fresh.set_cookie("gateway_ui_session", cookie[:-3] + "abc", path="/ui/")  # forged signature
    assert fresh.get("/ui/").status_code == 302

    copy = ui_app.test_client()  # a copy of the cookie signs in while the session lasts
    copy.set_cookie("gateway_ui_session", cookie, path="/ui/")
    assert copy.get("/ui/").status_code == 200
    import time as real_time

    later = real_time.time() + 8 * 3600 + 5
    monkeypatch.setattr(real_time, "time", lambda: later)
    assert copy.get("/ui/").status_code == 302  # expired after GATEWAY_UI_SESSION_HOURS
    monkeypatch.undo()

    instance = get_state(ui_app).settings.instance_path
    other = make_app({"GATEWAY_ADMIN_TOKEN": "another-admin-token-9876543210"}, instance=instance)
    moved = other.test_client()
    moved.set_cookie("gateway_ui_session", cookie, path="/ui/")
    assert moved.get("/ui/").status_code == 302

    signed_out = ui.post("/ui/sign-out")
    assert signed_out.status_code == 302 and "gateway_ui_session=;" in signed_out.headers["Set-Cookie"]
    assert ui.get("/ui/").status_code == 302
    stolen = ui_app.test_client()  # signing out ended the session on the server: every copy is refused
    stolen.set_cookie("gateway_ui_session", cookie, path="/ui/")
    refused = stolen.get("/ui/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/ui/sign-in")
    assert "gateway_ui_session=" in refused.headers["Set-Cookie"]  # re-issued, signed out
    assert stolen.get("/ui/").status_code == 302


def test_the_database_keeps_only_a_hash_of_each_session_id_and_forgets_expired_ones(ui_app):
    from sqlalchemy import select

    from gateway.store.tables import ui_sessions

    state = get_state(ui_app)
    state.db.ui_sessions.start("0" * 64, started_at=1000.0, expires_at=2000.0)  # long expired
    ui = UiClient(ui_app.test_client())
    cookie = ui.client.get_cookie("gateway_ui_session", path="/ui/").value
    with state.db.engine.connect() as connection:
        [row] = connection.execute(select(ui_sessions)).all()
    assert len(row.id_hash) == 64 and row.id_hash not in cookie and row.id_hash != "0" * 64
    assert row.expires_at - row.started_at == 8 * 3600
    ui.post("/ui/sign-out")
    with state.db.engine.connect() as connection:
        assert connection.execute(select(ui_sessions)).all() == []


def test_the_session_lifetime_is_a_setting(make_app):
    app = make_app({"GATEWAY_UI_SESSION_HOURS": "0.5"})
    client = app.test_client()
    csrf = CSRF.search(client.get("/ui/sign-in").text).group(1)
    response = client.post("/ui/sign-in", data={"csrf_token": csrf, "token": ADMIN_TOKEN})
    assert "Max-Age=1800" in response.headers["Set-Cookie"]


# CSRF and headers ------------------------------------------------------------------------------

def test_every_form_needs_the_csrf_token_of_its_session(ui, ui_app, ui_state, populated):
    before = [(r.id, r.enabled, r.updated_at) for r in ui_state.db.integrations.list()]
    for path in post_paths(populated):
        for token in (None, "x" * 32, CSRF.search(UiClient(ui_app.test_client()).get("/ui/").text).group(1)):
            data = {"name": "x", "since": "0"}
            if token:
                data["csrf_token"] = token
            response = ui.client.post(path, data=data)
            assert response.status_code == 400, (path, token)
    assert [(r.id, r.enabled, r.updated_at) for r in ui_state.db.integrations.list()] == before
    assert ui.get("/ui/").status_code == 200  # still signed in


def test_every_form_on_every_page_carries_the_csrf_token(ui, populated):
    for path in page_paths(populated):
        html = ui.get(path).text
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S):
            if re.search(r'method="post"', form):
                assert f'name="csrf_token" value="{ui.csrf}"' in form, (path, form[:200])


def test_security_headers_and_no_inline_script_or_style(ui, ui_app, populated):
    signed_out = ui_app.test_client()
    for path in page_paths(populated) + ["/ui/static/ui.css", "/ui/static/ui.js", "/ui/sign-in"]:
        response = (signed_out if path == "/ui/sign-in" else ui).get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if response.mimetype == "text/html":
            html = response.text
            assert response.headers["Cache-Control"] == "no-store"
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
            assert not re.search(r"\sstyle=|\son[a-z]+=", html), path
            assert "https://" not in re.sub(r'(value|href)="[^"]*"', "", "".join(re.findall(r"<(?:script|link)[^>]*>", html)))


def test_no_page_shows_a_secret(ui, populated):
    for path in page_paths(populated):
        html = ui.get(path).text
        for secret in SECRETS:
            assert secret not in html, (path, secret)
    detail = ui.get(f"/ui/integrations/{populated['rows']['recorder'].id}").text
    assert "****0001" in detail
    edit = ui.get(f"/ui/integrations/{populated['rows']['inbox'].id}/edit").text
    assert "Stored: ****0002. Leave blank to keep it." in edit
    assert re.search(r'<input type="password" id="f-config-signing_secret" name="config.signing_secret" value=""', edit)
    leaky_event = ui.get(f"/ui/events/{populated['event_id']}").text
    assert "cannot use token [redacted]" in leaky_event


# the generated form ----------------------------------------------------------------------------

def test_the_form_has_an_input_for_every_kind_of_field_with_labels(ui):
    html = ui.get("/ui/integrations/new?plugin=forms").text
    assert re.search(r'<input type="password" id="f-config-api_key" name="config.api_key"', html)
    assert re.search(r'<label for="f-config-url">Service URL <span class="req">\(required\)</span></label>', html)
    assert re.search(r'id="f-config-url" name="config.url"\s+type="url"', html)
    assert re.search(r'<input type="checkbox" id="f-config-verbose" name="config.verbose" value="on"\s*>', html)
    assert '<textarea id="f-config-tags" name="config.tags"' in html
    assert 'id="f-config-options-retries" name="config.options.retries"' in html and 'type="number"' in html
    # a long menu is grouped by first word and gets a filter box (shown by the script)
    assert '<optgroup label="EU">' in html and '<optgroup label="Other"><option value="LOCAL"' in html
    assert '<option value="EU_1" selected>' in html
    assert re.search(r'<input type="search" class="choice-filter" id="f-config-region-filter"[^>]*hidden>', html)
    # the required list of objects starts with one row, and has a template for more
    assert 'name="config.targets.__row" value="0"' in html and 'name="config.targets.__INDEX__.name"' in html
    assert 'name="ui_add" value="config.targets"' in html and 'name="ui_remove" value="config.targets.0"' in html
    assert "what to call it" in html  # descriptions
    for input_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="(f-[^"]+)"', html):
        if "__INDEX__" not in input_id and not input_id.endswith("-filter"):
            assert f'<label for="{input_id}"' in html, input_id
    policy = re.search(r'<textarea id="f-policy" name="policy"[^>]*>([^<]*)</textarea>', html).group(1)
    assert json.loads(policy.replace("&#34;", '"')) == test_plugins.ALLOW_ALL_FLAGS


def forms_data(**overrides):
    data = {"name": "Forms one", "enabled": "on", "config.api_key": FORMS_KEY, "config.url": "http://127.0.0.1:9/hook",
            "config.region": "US_3", "config.verbose": "on", "config.tags": "a\nb\n", "config.options.retries": "5",
            "config.note": "", "config.targets.__row": ["0", "3"], "config.targets.0.name": "first",
            "config.targets.0.weight": "2", "config.targets.3.name": "second", "config.targets.3.weight": "",
            "policy": json.dumps(test_plugins.ALLOW_ALL_FLAGS)}
    data.update(overrides)
    return data


def test_creating_through_the_form_stores_what_the_api_would(ui, ui_state, caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")
    response = ui.post("/ui/integrations/new?plugin=forms", data=forms_data())
    assert response.status_code == 303, response.text
    [row] = ui_state.db.integrations.list()
    assert response.headers["Location"] == f"/ui/integrations/{row.id}"
    assert row.name == "Forms one" and row.enabled
    config = ui_state.integrations.stored_input(row)
    assert config == {"api_key": FORMS_KEY, "url": "http://127.0.0.1:9/hook", "region": "US_3", "verbose": True,
                      "tags": ["a", "b"], "options": {"retries": 5},
                      "targets": [{"name": "first", "weight": 2}, {"name": "second"}]}
    assert FORMS_KEY not in row.config.values()  # sealed
    assert [r.getMessage() for r in caplog.records] == [
        f"admin action integration.create origin=ui integration={row.id} plugin=forms enabled=True"]
    assert "Saved Forms one." in ui.get(response.headers["Location"]).text


def test_errors_appear_at_their_field_paths_as_the_api_reports_them(ui, ui_app, ui_state):
    data = forms_data(**{"config.url": "not a url", "config.targets.3.name": "x",
                         "config.targets.0.weight": "heavy", "config.options.retries": "many",
                         "config.region": "MARS", "config.api_key": ""})
    response = ui.post("/ui/integrations/new?plugin=forms", data=data)
    assert response.status_code == 400
    html = response.text
    # the same validation as the API: the same paths (rows renumbered in order: 0 and 3 became 0 and 1)
    api_config = {"url": "not a url", "targets": [{"name": "first", "weight": "heavy"}, {"name": "x"}],
                  "options": {"retries": "many"}, "region": "MARS", "verbose": True, "tags": ["a", "b"]}
    api = ui_app.test_client().post("/api/v1/integrations", headers=AUTH,
                                    json={"plugin": "forms", "name": "Forms one", "config": api_config})
    assert api.status_code == 400
    api_errors = api.get_json()["errors"]
    assert set(api_errors) == {"config.url", "config.targets.1.name", "config.targets.0.weight",
                               "config.options.retries", "config.region", "config.api_key"}
    for path, messages in api_errors.items():
        assert field_error(html, path) == messages, path
        dom = "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)
        assert re.search(rf'id="{dom}"[^>]*aria-describedby="[^"]*{dom}-error1"[^>]*aria-invalid="true"', html, re.S), path
    # what was typed is kept (secrets excepted), in the renumbered rows
    assert 'name="config.url"' in html and 'value="not a url"' in html
    assert re.search(r'name="config.targets.1.name"\s+type="text"\s+value="x"', html)
    assert re.search(r'name="config.targets.0.weight"\s+type="number"\s+step="1"\s+value="heavy"', html)
    assert 'href="#f-config-targets-1-name">Targets, row 2: Name</a>' in html  # named as the form shows it
    assert ui_state.db.integrations.list() == []


def test_a_row_level_and_a_list_level_error_show_at_the_row_and_the_list(ui):
    no_rows = {k: v for k, v in forms_data().items() if not k.startswith("config.targets")}
    html = ui.post("/ui/integrations/new?plugin=forms", data=no_rows).text
    assert field_error(html, "config.targets") == ["Shorter than minimum length 1."]
    twice = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(**{"config.targets.3.name": "first"})).text
    # shown at the row's first field, before that field's own errors
    assert field_error(twice, "config.targets.1.name") == ["the name first is taken by an earlier target"]


def test_rows_are_added_and_removed_without_javascript_keeping_what_was_typed(ui, ui_state):
    added = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(ui_add="config.targets")).text
    assert re.findall(r'name="config.targets.__row" value="(\d+)"', added) == ["0", "1", "2"]
    assert re.search(r'name="config.targets.1.name"\s+type="text"\s+value="second"', added)
    assert re.search(r'name="config.targets.2.name"\s+type="text"\s+value=""', added)
    assert 'value="Forms one"' in added and FORMS_KEY not in added
    assert field_error(added, "config.targets.2.name") == []  # adding a row is not a save: no errors yet

    removed = ui.post("/ui/integrations/new?plugin=forms",
                      data=forms_data(ui_remove="config.targets.0")).text
    assert re.findall(r'name="config.targets.__row" value="(\d+)"', removed) == ["0"]
    assert re.search(r'name="config.targets.0.name"\s+type="text"\s+value="second"', removed)
    assert ui_state.db.integrations.list() == []


def test_editing_keeps_a_secret_left_blank_and_removes_a_cleared_field(ui, ui_state, caplog):
    ui.post("/ui/integrations/new?plugin=forms", data=forms_data(**{"config.note": "hello"}))
    [row] = ui_state.db.integrations.list()
    caplog.set_level(logging.INFO, logger="gateway.audit")
    edit = ui.get(f"/ui/integrations/{row.id}/edit").text
    assert 'value="hello"' in edit and "Stored: ****0003" in edit and FORMS_KEY not in edit
    response = ui.post(f"/ui/integrations/{row.id}/edit", data=forms_data(**{
        "name": "Forms renamed", "config.api_key": "", "config.note": "", "config.region": "AP_2",
        "config.targets.__row": ["0"], "enabled": None}))
    assert response.status_code == 303, response.text
    row = ui_state.db.integrations.get(row.id)
    config = ui_state.integrations.stored_input(row)
    assert row.name == "Forms renamed" and not row.enabled
    assert config["api_key"] == FORMS_KEY and config["region"] == "AP_2" and "note" not in config
    assert config["targets"] == [{"name": "first", "weight": 2}]
    assert "admin action integration.update origin=ui" in caplog.text
    response = ui.post(f"/ui/integrations/{row.id}/edit", data=forms_data(**{"config.api_key": "changed-key-000099"}))
    assert ui_state.integrations.stored_input(ui_state.db.integrations.get(row.id))["api_key"] == "changed-key-000099"


def test_policy_errors_are_the_policy_engines_and_shown_at_the_policy(ui, ui_state):
    bad_json = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(policy="[{")).text
    assert re.search(r'<p class="field-error" id="f-policy-error1">the policy is not valid JSON', bad_json)
    bad = ui.post("/ui/integrations/new?plugin=forms",
                  data=forms_data(policy='[{"effect": "maybe", "resources": ["proj/*"], "actions": ["*"]}]')).text
    assert 'policy[0].effect: must be &#34;allow&#34; or &#34;deny&#34;, got &#34;maybe&#34;' in bad
    assert ui_state.db.integrations.list() == []


def test_try_it_evaluates_the_policy_on_a_pasted_body_or_a_recent_event(ui, ui_app, ui_state):
    production_only = json.dumps([{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}])
    data = forms_data(ui_try="1", policy=production_only, try_body=FLAG_ON.decode())
    html = ui.post("/ui/integrations/new?plugin=forms", data=data).text
    assert "<strong>Allowed</strong> by statement 0" in html
    assert ui_state.db.integrations.list() == []

    staging = fixture_bytes("launchdarkly/flag-rules-updated-staging.json")
    ui_app.test_client().post("/webhooks/launchdarkly", data=staging, content_type="application/json")
    [event] = ui_state.db.events.list()
    form = ui.get("/ui/integrations/new?plugin=forms").text
    assert f'<option value="{event.id}"' in form
    html = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(ui_try="1", policy=production_only,
                                                                        try_event=event.id)).text
    assert "<strong>Denied</strong>: no statement allows" in html and "denied: denied" not in html.lower()
    broken = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(ui_try="1", try_body='{"a": 1}')).text
    assert "event: " in broken and "Allowed" not in broken


def test_the_detail_page_explains_the_whole_chain(ui, ui_state):
    row = add(ui_state, "picky", "Picky", {"wanted_tag": "payments"})
    html = ui.post(f"/ui/integrations/{row.id}/try", data={"try_body": FLAG_ON.decode()}).text
    assert "<strong>skipped</strong>: plugin &#39;picky&#39;: the flag has no tag &#39;payments&#39;" in html
    assert "policy: takes it" in html and "plugin: skips it" in html


# actions ---------------------------------------------------------------------------------------

def test_status_checks_are_coloured_and_their_action_runs_through_the_shared_code(ui, ui_state, caplog):
    row = add(ui_state, "picky", "Picky", {"wanted_tag": "missing"})
    html = checked(ui, f"/ui/integrations/{row.id}")  # the first visit starts the checks in the background
    assert re.search(r'<li class="check-item state-error">\s*<span class="badge tone-error">red</span>', html)
    assert 'value="{&#34;tag&#34;: &#34;missing&#34;}"' in html
    caplog.set_level(logging.INFO, logger="gateway.audit")
    response = ui.post(f"/ui/integrations/{row.id}/actions/set_up", data={"params": '{"tag": "missing"}'})
    assert response.status_code == 303
    assert "set up tag &#39;missing&#39;" in ui.get(response.headers["Location"]).text
    ui.post(f"/ui/integrations/{row.id}/actions/explode", data={"params": "{}"})
    assert ("explode: the action &#39;explode&#39; failed with an error in plugin &#39;picky&#39;"
            in ui.get(f"/ui/integrations/{row.id}").text)
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.audit"] == [
        f"admin action integration.action origin=ui integration={row.id} action=set_up result=done",
        f"admin action integration.action origin=ui integration={row.id} action=explode result=refused (502)"]


def test_enable_disable_test_send_replay_retry_and_delete_are_recorded_with_their_origin(ui, ui_app, ui_state, populated, caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")
    rows, dead = populated["rows"], populated["decisions"]["Scripted"]
    rid = rows["recorder"].id
    ui.post(f"/ui/integrations/{rid}/disable")
    assert not ui_state.db.integrations.get(rid).enabled
    ui.post(f"/ui/integrations/{rid}/enable")
    assert ui_state.db.integrations.get(rid).enabled

    forms_row = add(ui_state, "forms", "Forms", {"api_key": FORMS_KEY, "url": "http://127.0.0.1:9",
                                                 "targets": [{"name": "t1"}]})
    response = ui.post(f"/ui/integrations/{forms_row.id}/test")
    page = ui.get(response.headers["Location"]).text
    assert "Test event sent: the delivery is delivered (sent with key ending 03)." in page
    [test_event] = ui_state.db.events.list(source="test")
    assert f'href="/ui/events/{test_event.id}"' in page

    response = ui.post(f"/ui/deliveries/{dead.id}/retry", data={"back": f"/ui/events/{populated['event_id']}"})
    assert response.headers["Location"] == f"/ui/events/{populated['event_id']}"
    assert ui_state.db.deliveries.get(dead.id).status == "pending"
    assert "cannot be retried" in ui.get(ui.post(f"/ui/deliveries/{populated['decisions']['Recorder'].id}/retry")
                                         .headers["Location"]).text

    ui.post(f"/ui/integrations/{rid}/replay", data={"event_id": populated["event_id"]})
    assert ui_state.db.deliveries.get(populated["decisions"]["Recorder"].id).status == "pending"
    assert "Re-queued 0 delivery(ies)." in ui.get(
        ui.post(f"/ui/integrations/{rid}/replay", data={"since": "2000-01-01T00:00:00Z"}).headers["Location"]).text
    bad = ui.post(f"/ui/integrations/{rid}/replay", data={"since": "yesterday"})
    assert "Nothing was re-queued: invalid since" in ui.get(bad.headers["Location"]).text

    confirm = ui.get(f"/ui/integrations/{rid}/delete").text
    assert "Delete Recorder?" in confirm and ui_state.db.integrations.get(rid) is not None
    assert ui.post(f"/ui/integrations/{rid}/delete").headers["Location"] == "/ui/"
    assert ui_state.db.integrations.get(rid) is None

    ui_app.test_client().patch(f"/api/v1/integrations/{forms_row.id}", headers=AUTH, json={"enabled": False})
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == [f"admin action integration.update origin=ui integration={rid} changed=enabled"] * 2
    assert any(m.startswith(f"admin action integration.test origin=ui integration={forms_row.id} event=") for m in messages)
    assert f"admin action delivery.retry origin=ui delivery={dead.id} integration={rows['scripted'].id}" in messages
    assert f"admin action integration.replay origin=ui integration={rid} selection=1 event(s) requeued=1 skipped=0" in messages
    assert f"admin action integration.delete origin=ui integration={rid}" in messages
    assert messages[-1] == f"admin action integration.update origin=api integration={forms_row.id} changed=enabled"
    for message in messages:
        assert not any(secret in message for secret in SECRETS)


def test_replay_dead_in_bulk_from_the_deliveries_page(ui, ui_state, populated):
    dead = populated["decisions"]["Scripted"]
    listed = ui.get("/ui/deliveries?status=dead").text
    assert f'action="/ui/deliveries/{dead.id}/retry"' in listed
    assert f'action="/ui/deliveries/{populated["decisions"]["Recorder"].id}/retry"' not in listed
    response = ui.post("/ui/deliveries/replay-dead", data={"since": "0", "integration": "",
                                                            "back": "/ui/deliveries?status=dead"})
    assert response.headers["Location"] == "/ui/deliveries?status=dead"
    assert "Re-queued 1 dead delivery(ies)." in ui.get(response.headers["Location"]).text
    assert ui_state.db.deliveries.get(dead.id).status == "pending"
    bad = ui.post("/ui/deliveries/replay-dead", data={"since": "soon"})
    assert "invalid since" in ui.get(bad.headers["Location"]).text


# lists and the overview --------------------------------------------------------------------------

def test_events_filter_and_page(ui, ui_app, ui_state, populated):
    staging = fixture_bytes("launchdarkly/flag-rules-updated-staging.json")
    ui_app.test_client().post("/webhooks/launchdarkly", data=staging, content_type="application/json")
    everything = ui.get("/ui/events").text
    titles = re.findall(r'<a href="/ui/events/([^"]+)">', everything)
    assert len(titles) == 2 and titles[1] == populated["event_id"]  # newest first

    def ids(query):
        return re.findall(r'<a href="/ui/events/([^"]+)">', ui.get(f"/ui/events?{query}").text)

    assert ids("status=dead") == [populated["event_id"]]
    assert ids(f"integration={populated['rows']['scripted'].id}&status=dead") == [populated["event_id"]]
    assert ids(f"integration={populated['rows']['inbox'].id}") == []
    assert ids("q=new-checkout-flow") == titles
    assert ids("q=TURNED%20ON") == [populated["event_id"]]  # in the title, any case
    assert ids("q=targeting%20rules") == titles[:1]
    assert ids("q=100%25") == []
    assert ids("source=launchdarkly") == titles and ids("source=sentry") == []
    first = ui.get("/ui/events?limit=1").text
    assert re.findall(r'<a href="/ui/events/([^"]+)">', first) == titles[:1]
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first).group(1).replace("&amp;", "&")
    assert re.findall(r'<a href="/ui/events/([^"]+)">', ui.get(older + "&limit=1").text) == titles[1:]
    assert ids("cursor=%25%25%25&status=nonsense") == titles  # a broken cursor or filter shows the first page


def test_the_event_page_shows_normalized_raw_decisions_and_attempts(ui, populated):
    html = ui.get(f"/ui/events/{populated['event_id']}").text
    assert "Normalized event" in html and "&#34;_id&#34;: &#34;6561f2a9c1d4e80f3b2a7c11&#34;" in html
    for name in ("Recorder", "Scripted", "Leaky", "Picky"):
        assert f">{name}</a></h3>" in html
    assert "the target said no" in html and "recorded" in html
    assert "the flag has no tag &#39;missing&#39;" in html  # a skip, with its reason
    assert html.count("<table class=\"attempts\">") == 2
    assert f'action="/ui/integrations/{populated["rows"]["scripted"].id}/replay"' in html
    assert ui.get("/ui/events/nope").status_code == 404


def test_the_overview_shows_health_figures_charts_urls_and_the_unsigned_banner(ui, ui_app, populated, make_app):
    html = ui.get("/ui/").text
    assert "Unsigned flag-change webhooks are accepted." in html
    assert 'value="http://localhost/webhooks/launchdarkly"' in html
    assert f'value="http://localhost/webhooks/integrations/{populated["rows"]["inbox"].id}"' in html
    assert 'Copy<span class="visually-hidden"> the Flag platform webhook URL</span>' in html
    assert re.search(r'<span class="badge tone-ok">ok</span>', html)  # the database
    assert "Recorder: last 24 hours: 1 delivered, 0 failed attempts" in html
    assert "Scripted: last 24 hours: 0 delivered, 1 failed attempts" in html
    assert html.count('class="bar-ok"') == 1 and html.count('class="bar-failed"') == 1
    signed = make_app({"GATEWAY_LAUNCHDARKLY_SECRET": "signing-secret"})
    assert "Unsigned flag-change webhooks" not in UiClient(signed.test_client()).get("/ui/").text


def test_the_plugins_page_lists_loaded_refused_and_filtered_plugins(make_app):
    app = make_app({"GATEWAY_PLUGINS": "recorder,bad-policy"}, plugins=(
        ("recorder", test_plugins.Recorder()), ("bad-policy", test_plugins.BadPolicy()),
        ("picky", test_plugins.Picky())))
    html = UiClient(app.test_client()).get("/ui/plugins").text
    assert "<code>recorder</code>" in html and "check_event, deliver_event, integration_type" in html
    assert "<strong>bad-policy</strong>: default_policy is invalid" in html and "unknown resource type &#34;flg&#34;" in html
    assert re.search(r"Left out by GATEWAY_PLUGINS</h2>\s*<ul class=\"plain\"><li><strong>picky</strong>", html)


# off, and inside another app -------------------------------------------------------------------

def test_gateway_ui_0_turns_the_ui_off(make_app):
    client = make_app({"GATEWAY_UI": "0"}).test_client()
    assert client.get("/ui/").status_code == 404
    assert client.get("/ui/sign-in").status_code == 404
    assert client.get("/").status_code == 404
    assert client.get("/api/v1/integrations", headers=AUTH).status_code == 200


def test_init_app_serves_the_ui_and_leaves_the_host_apps_root_alone(tmp_path):
    app = Flask("host")
    app.config.update(GATEWAY_INSTANCE_PATH=str(tmp_path), GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
                      GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path}/g.db")
    app.add_url_rule("/", "home", lambda: "the host's home")
    EventGateway(entry_points=False, plugins=(("recorder", test_plugins.Recorder()),)).init_app(app)
    try:
        client = app.test_client()
        assert client.get("/").text == "the host's home"
        ui = UiClient(client)
        assert "Add a recorder integration" in ui.get("/ui/plugins").text
    finally:
        get_state(app).db.dispose()


def test_unknown_things_are_404_pages_not_500(ui):
    assert ui.get("/ui/integrations/nope").status_code == 404
    assert ui.get("/ui/integrations/nope/edit").status_code == 404
    assert ui.post("/ui/integrations/nope/test").status_code == 404
    assert ui.get("/ui/nothing-here").status_code == 404
    chooser = ui.get("/ui/integrations/new?plugin=ghost")
    assert chooser.status_code == 200 and "There is no plugin &#39;ghost&#39; installed." in chooser.text


def test_a_name_error_shows_at_the_name(ui, ui_state):
    html = ui.post("/ui/integrations/new?plugin=forms", data=forms_data(name="")).text
    assert re.search(r'<p class="field-error" id="f-name-error">Length must be between 1 and 200.</p>', html)
    assert ui_state.db.integrations.list() == []


def test_every_input_on_every_page_has_a_label_and_every_button_a_name(ui, populated):
    for path in page_paths(populated):
        html = re.sub(r"<template\b.*?</template>", "", ui.get(path).text, flags=re.S)
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            found = re.search(r'\bid="([^"]+)"', tag)
            assert found, (path, tag)
            assert re.search(rf'<label[^>]*\bfor="{re.escape(found.group(1))}"', html) or "aria-label=" in tag, (path, tag)
        for button in re.findall(r"<button\b[^>]*>(.*?)</button>", html, flags=re.S):
            assert re.sub(r"<[^>]+>", "", button).strip(), (path, button)


def test_a_wrong_method_is_refused_without_acting(ui, ui_state, populated):
    rid = populated["rows"]["recorder"].id
    assert ui.get("/ui/sign-out").status_code == 405
    assert ui.get(f"/ui/integrations/{rid}/disable").status_code == 405
    assert ui_state.db.integrations.get(rid).enabled
    assert ui.get("/ui/").status_code == 200


def test_the_hourly_figures_put_each_attempt_in_its_hour(ui_state, populated):
    from gateway.admin.ui.charts import hourly_chart
    from gateway.admin.ui.queries import UiQueries

    recorder, scripted = populated["rows"]["recorder"].id, populated["rows"]["scripted"].id
    later = now() + 3 * 3600  # seen from three hours on, the attempts were made three hours ago
    figures = UiQueries(ui_state.db.engine).figures(later)
    assert figures[recorder].delivered_per_hour[20] == 1 and sum(figures[recorder].delivered_per_hour) == 1
    assert figures[scripted].failed_per_hour[20] == 1 and sum(figures[scripted].delivered_per_hour) == 0
    assert figures[scripted].dead == 1 and figures[scripted].failed_attempts == 1
    assert figures[recorder].last_delivered_at is not None and figures[scripted].last_delivered_at is None
    assert UiQueries(ui_state.db.engine).figures(now() + 25 * 3600)[recorder].delivered_per_hour == [0] * 24
    chart = hourly_chart([0] * 20 + [2, 0, 0, 1], [0] * 20 + [2, 0, 0, 0])
    bar = chart.bars[20]
    assert chart.peak == 4 and bar.delivered_height == bar.failed_height == 23.0 and bar.hours_ago == 3
    assert bar.failed_y == 48 - 46 and chart.bars[23].delivered_height == 11.5


def test_the_overview_says_when_the_database_cannot_be_reached(ui, ui_state, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down():
        raise OperationalError("SELECT 1", {}, Exception("gone"))

    monkeypatch.setattr(ui_state.db, "ping", down)
    html = ui.get("/ui/").text
    assert '<span class="badge tone-error">error: OperationalError</span>' in html
