"""Typing: py.typed everywhere, hook protocols equal to the specifications, and a mypy run over the
plugins that checks each hook against its specification."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from gateway import hooks
from gateway.host import hookspecs
from gateway.host.plugins import SPEC_NAMES

from .conftest import ROOT

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

PACKAGES = ("gateway_dynatrace", "gateway_sentry", "gateway_webhook")


def mypy(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_gateway_and_the_plugins_ship_py_typed():
    for folder in ("gateway", "plugins/dynatrace/gateway_dynatrace", "plugins/sentry/gateway_sentry",
                   "examples/event-gateway-webhook/gateway_webhook"):
        assert (ROOT / folder / "py.typed").exists(), folder


@pytest.mark.parametrize("name", sorted(SPEC_NAMES))
def test_each_protocol_is_its_specification(name):
    spec = inspect.signature(getattr(hookspecs, name))
    protocol = inspect.signature(hooks.PROTOCOLS[name].__call__)
    params = [p for p in protocol.parameters.values() if p.name != "self"]
    assert [(p.name, p.annotation) for p in params] == [(p.name, p.annotation) for p in spec.parameters.values()]
    assert protocol.return_annotation == spec.return_annotation
    marker = getattr(hooks, name)
    assert marker.__doc__ and name in marker.__doc__


def test_mypy_finds_no_error_in_the_plugins():
    result = mypy(*(arg for package in PACKAGES for arg in ("-p", package)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_catches_a_hook_that_does_not_match_its_specification(tmp_path):
    (tmp_path / "wrong_plugin.py").write_text(
        "from gateway import Delivered, DeliveryRef, Event, HttpClient, hooks\n\n\n"
        "@hooks.deliver_event\n"
        "def deliver_event(event: Event, config: dict, http: HttpClient, delivery: str) -> Delivered:\n"
        "    return Delivered()\n\n\n"
        "@hooks.test_event\n"
        "def test_event(config: dict, integration: object) -> str:\n"
        "    return 'not an event'\n")
    result = mypy("wrong_plugin.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.count('Value of type variable') == 2, result.stdout
