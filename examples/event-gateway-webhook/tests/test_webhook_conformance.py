"""The example plugin passes the gateway's conformance check, from a test and from the CLI."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys

from gateway.testing import check_plugin

from gateway_webhook import plugin

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick


def test_the_plugin_passes_the_conformance_check():
    report = check_plugin(plugin)
    report.assert_passed()
    assert report.warnings == []


def test_event_gateway_plugins_check_by_entry_point_name():
    result = subprocess.run([sys.executable, "-m", "gateway", "plugins", "check", "webhook"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["errors"] == 0
