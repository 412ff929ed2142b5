"""The OpenAPI document describes the API as it answers: a bounded schemathesis run (every check)
against a real gateway serving over HTTP on loopback, with a few integrations and events in it."""

from __future__ import annotations

import pytest

import subprocess
import sys

from gateway.testing import FakeService, GatewayProcess

from .conftest import ROOT

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

CONFIG = ROOT / "tests" / "schemathesis.toml"
SEED = "20261128"


def test_schemathesis_finds_nothing(tmp_path):
    # Only the example webhook plugin, sending to a fake service on loopback: nothing leaves the machine.
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_WORKERS": "0", "GATEWAY_PLUGINS": "webhook",
           "GATEWAY_AUTH_FAILURES_ALLOWED": "0"}  # schemathesis sends wrong tokens on purpose
    with FakeService() as target, GatewayProcess(str(tmp_path), env=env) as gateway:
        created = gateway.admin("POST", "/api/v1/integrations", json={
            "plugin": "webhook", "name": "hooks", "config": {"url": target.url + "/hook"}})
        assert created.status_code == 201, created.text
        flag_change = (ROOT / "examples" / "payloads" / "flag-turned-on.json").read_bytes()
        assert gateway.post_webhook(flag_change).status_code == 202
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
             f"{gateway.url}/api/v1/openapi.json", "--checks", "all", "--seed", SEED, "--workers", "1",
             "--no-color", "-H", f"Authorization: Bearer {gateway.admin_token}"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
        document = gateway.admin("GET", "/api/v1/openapi.json").json()
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    operations = sum(1 for path, item in document["paths"].items() for method in item
                     if method in ("get", "put", "post", "patch", "delete")
                     and not path.endswith("/openapi.json"))  # schemathesis leaves the document itself out
    writes_of_the_connection = 4  # left out by the config: they call the flag platform's API
    tested = operations - writes_of_the_connection
    assert f"{tested}/{operations}" in run.stdout  # every other operation of the document was tested
