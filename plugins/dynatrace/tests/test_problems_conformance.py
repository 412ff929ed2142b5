"""The dynatrace-problems integration passes the gateway's conformance check (gateway.testing.check_plugin),
its flag action going to a flag trigger on the check's fake service."""

from __future__ import annotations

from gateway.testing import check_plugin

from gateway_dynatrace import problems_plugin
from problem_helpers import INTEGRATION, SECRET, config, notification, request, rule


def test_the_integration_passes_the_conformance_check():
    cfg = config(rule(trigger="off"), trigger_urls="off=https://app.launchdarkly.com/webhook/triggers/a/b")
    [event] = problems_plugin.receive_webhook(request(notification()), cfg, INTEGRATION).events
    checked = {"shared_secret": SECRET, "trigger_urls": "off={service_url}/webhook/triggers/65a1b2/aa0f5e1c",
               "rules": [{"name": "checkout errors", "severities": ["ERROR"], "tags": ["team:checkout"],
                          "project_key": "shop", "environment_key": "production",
                          "flag_key": "new-checkout-flow", "trigger": "off"}]}
    report = check_plugin(problems_plugin, name="dynatrace-problems", config=checked, event=event)
    report.assert_passed()
    levels = {f.check: f.level for f in report.findings}
    assert levels["deliver 429"] == levels["deliver timeout"] == levels["secrets"] == "ok"
    # no test event: sending one would turn a real flag off; the check says so and uses the event given
    assert [f.check for f in report.warnings] == ["hooks"]
