"""Loading plugins: broken ones refused with a message naming them, the others still load."""

from __future__ import annotations

import pytest

from gateway import EventSource, Rejected, hookimpl
from gateway.host.plugins import PluginHost

from . import plugins_for_tests as p
from .conftest import AUTH

BROKEN = [
    ("not-a-schema", p.NotASchema(), "config_schema must be a marshmallow Schema class"),
    ("bad-policy", p.BadPolicy(), "default_policy is invalid"),
    ("misspelled", p.MisspelledHook(), "unknown hook 'check_evnt'"),
    ("wrong-arg", p.WrongArgument(), "invalid hook"),
    ("no-delivery", p.NoDelivery(), "must implement 'deliver_event'"),
    ("raising-declaration", p.RaisingDeclaration(), "integration_type() raised ValueError: cannot declare"),
    ("bad-key", p.BadKey(), "key 'Bad Key!' is invalid"),
]


@pytest.mark.parametrize("name, plugin, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_plugin_is_refused_and_the_others_load(name, plugin, message, caplog):
    host = PluginHost(entry_points=False, extra=(("recorder", p.Recorder()), (name, plugin)))
    assert set(host.plugins) == {"launchdarkly", "recorder"}
    [refused] = host.refused
    assert refused.name == name
    assert message in refused.error
    assert any(name in record.getMessage() and "refused" in record.getMessage() for record in caplog.records)


def test_duplicate_key_is_refused_naming_both():
    host = PluginHost(entry_points=False, extra=(("first", p.Recorder()), ("second", p.Recorder())))
    assert host.plugins["recorder"].name == "first"
    [refused] = host.refused
    assert refused.name == "second"
    assert "duplicate key 'recorder'" in refused.error and "'first'" in refused.error


def test_installed_plugins_load_through_entry_points():
    host = PluginHost()
    assert {"dynatrace", "sentry", "webhook", "launchdarkly"} <= set(host.plugins)
    webhook = host.plugins["webhook"]
    assert webhook.distribution == "event-gateway-webhook"
    assert webhook.version == "0.1.0"
    assert "deliver_event" in webhook.hooks


def test_gateway_plugins_restricts_which_load():
    host = PluginHost(allowed=frozenset({"webhook"}))
    assert set(host.integration_types()) == {"webhook"}
    assert {f.name for f in host.filtered} >= {"dynatrace", "sentry"}
    none = PluginHost(allowed=frozenset())
    assert set(none.integration_types()) == set()
    assert set(none.sources()) == {"launchdarkly"}  # built-in behaviour always loads


def test_gateway_plugins_setting_reaches_the_app(make_app):
    app = make_app({"GATEWAY_PLUGINS": "webhook,dynatrace"}, plugins=(), entry_points=True)
    listed = app.test_client().get("/api/v1/plugins?all=true", headers=AUTH).get_json()["items"]
    assert {item["key"] for item in listed} == {"launchdarkly", "webhook", "dynatrace"}


def test_a_plugin_may_replace_the_built_in_source():
    class OwnSource:
        @hookimpl
        def event_source(self):
            def parse(request):
                raise Rejected(400, "replaced")
            return EventSource(key="launchdarkly", name="replacement", parse=parse)

    host = PluginHost(entry_points=False, extra=(("own", OwnSource()),))
    assert host.plugins["launchdarkly"].name == "own"
    assert not host.refused
    assert host.pm.get_plugin("builtin.launchdarkly") is None


def test_hooks_are_called_on_one_plugin_only():
    recorder, other = p.Recorder(), p.Recorder(key="other")
    host = PluginHost(entry_points=False, extra=(("recorder", recorder), ("other", other)))
    host.call("recorder", "deliver_event", event=type("E", (), {"source_id": "x"})(), config={}, http=None,
              delivery=None)
    assert recorder.delivered == ["x"] and other.delivered == []


def test_plugins_api_lists_schema_and_hooks(client):
    body = client.get("/api/v1/plugins", headers=AUTH).get_json()
    recorder = next(item for item in body["items"] if item["key"] == "recorder")
    assert recorder["config_schema"]["properties"]["token"]["writeOnly"] is True
    assert recorder["config_schema"]["required"] == ["token"]
    assert recorder["default_policy"] == p.ALLOW_ALL_FLAGS
    assert recorder["optional_hooks"] == {"receive_webhook": False, "integration_status": False,
                                          "integration_action": False, "test_event": False,
                                          "batch_limits": False, "deliver_batch": False}
    assert "check_event" in recorder["hooks"]
