"""The Sentry plugin passes the gateway's conformance check (gateway.testing.check_plugin)."""

from __future__ import annotations

from gateway.testing import check_plugin

from gateway_sentry import plugin
from sentry_helpers import ACCESS_TOKEN, CLIENT_SECRET, INTEGRATION, compact, fixture_json, make_config, signed_request


def test_the_plugin_passes_the_conformance_check():
    body = compact(fixture_json("error-created-with-ld-context.json"))
    [event] = plugin.receive_webhook(signed_request(body, "error"), make_config(), INTEGRATION).events
    config = {
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS_TOKEN,
        "environment_mappings": [{"sentry_project": 4504123456789012, "sentry_environment": "production",
                                  "ld_project": "shop", "ld_environment": "production"}],
        "events_url": "{service_url}",
        "api_url": "{service_url}",
    }
    report = check_plugin(plugin, name="sentry", config=config, event=event)
    report.assert_passed()
    levels = {f.check: f.level for f in report.findings}
    assert levels["deliver 429"] == levels["secrets"] == "ok"
    # Sentry's integration has no test event: the check says so, and uses the event given to it
    assert [f.check for f in report.warnings] == ["hooks"]
