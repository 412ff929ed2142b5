"""The plugin as the gateway loads it: entry point, hook signatures, declared integration."""

from __future__ import annotations

import importlib.metadata

import gateway
import gateway.host.hookspecs
import pluggy
import pytest

from gateway_sentry import plugin
from gateway_sentry.schema import SentryConfigSchema


def test_plugin_is_installed():
    entry_points = importlib.metadata.entry_points(group="event_gateway")
    sentry = [ep for ep in entry_points if ep.name == "sentry"]
    assert len(sentry) == 1
    assert sentry[0].value == "gateway_sentry.plugin"
    assert sentry[0].load() is plugin


def test_hooks_match_the_gateway_hookspecs():
    manager = pluggy.PluginManager(gateway.PROJECT_NAME)
    manager.add_hookspecs(gateway.host.hookspecs)
    manager.register(plugin)
    manager.check_pending()
    implemented = {caller.name for caller in manager.get_hookcallers(plugin)}
    assert implemented == {
        "integration_type",
        "receive_webhook",
        "check_event",
        "deliver_event",
        "batch_limits",
        "deliver_batch",
        "integration_status",
        "integration_action",
    }


def test_integration_type_takes_only_its_own_webhooks():
    declared = plugin.integration_type()
    assert declared.key == "sentry"
    assert declared.sources == ()
    assert declared.default_policy == []
    assert declared.config_schema is SentryConfigSchema


def test_unknown_action_is_refused(config, http):
    with pytest.raises(gateway.Rejected) as refused:
        plugin.integration_action(
            "delete_everything", {}, config, http, gateway.IntegrationRef("1", "s", "sentry")
        )
    assert refused.value.status == 404
    assert "create_metric" in refused.value.message
