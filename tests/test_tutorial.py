"""The tutorial's Python (docs/writing-plugins.md) runs: its blocks, together, are a plugin that
passes the conformance check, and its unit-test block passes. Its shell block is what
tests/test_scaffold.py runs, step by step."""

from __future__ import annotations

import re
import types

import requests_mock as requests_mock_module

from gateway.testing import check_plugin

from .conftest import ROOT

DOC = (ROOT / "docs" / "writing-plugins.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC, flags=re.M | re.S)


def tutorial_module() -> types.ModuleType:
    module = types.ModuleType("tutorial_plugin")
    for code in blocks("python"):
        exec(compile(code, "docs/writing-plugins.md", "exec"), module.__dict__)
    return module


def test_the_tutorial_plugin_passes_the_conformance_check():
    module = tutorial_module()
    assert {"integration_type", "deliver_event", "test_deliver_posts_the_event"} <= set(vars(module))
    check_plugin(module, name="tutorial").assert_passed()


def test_the_tutorial_unit_test_passes():
    module = tutorial_module()
    with requests_mock_module.Mocker() as mock:
        module.test_deliver_posts_the_event(mock)
        assert mock.call_count == 1


def test_the_shell_steps_are_the_ones_the_scaffold_test_runs():
    [steps] = [b for b in blocks("sh") if "plugins new" in b]
    commands = [line.split("#")[0].strip() for line in steps.splitlines() if line.strip()]
    assert commands == ["event-gateway plugins new chat-notify", "cd event-gateway-chat-notify",
                        "pip install -e '.[test]'", "pytest", "event-gateway plugins check chat-notify",
                        "event-gateway plugins"]
    scaffold_test = (ROOT / "tests" / "test_scaffold.py").read_text()
    for command in commands[2:]:
        assert f"venv.run(\"{command}\"" in scaffold_test, command
