"""The Dynatrace plugin passes the gateway's conformance check (gateway.testing.check_plugin)."""

from __future__ import annotations

import json

from gateway.testing import Reply, check_plugin

from gateway_dynatrace import plugin


def test_the_plugin_passes_the_conformance_check(answer):
    report = check_plugin(plugin, name="dynatrace", ok_reply=Reply(201, json.loads(answer("ingest-201-ok"))))
    report.assert_passed()
    assert report.warnings == []
    assert {f.check for f in report.findings} >= {"test_event", "deliver 2xx", "deliver 3xx", "deliver 4xx",
                                                  "deliver 429", "deliver 5xx", "deliver timeout", "secrets"}
