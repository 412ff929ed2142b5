"""docs/writing-plugins.md's tutorial runs as written: its package is made from its blocks, and its
shell blocks install it, run its tests, check it, list it, and send it a test event that a local
receiver gets. (The scaffold's block is run by tests/test_scaffold.py.)"""

from __future__ import annotations

import pytest

import json

from gateway.testing import free_port

from .child_venv import ChildVenv
from .tutorial_runner import all_blocks, blocks, run_shell_steps, tree_files, write_package

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick


def test_every_block_is_one_the_tutorial_runs():
    assert len(blocks("sh")) == 4 and len(blocks("text")) == 1 and len(blocks("toml")) == 1
    assert len(blocks("ini")) == 1 and len(blocks("python")) == 3
    languages = [language for language, _ in all_blocks()]
    assert set(languages) == {"sh", "text", "toml", "ini", "python"}, "a block of another kind is not run"


def test_tree_files_reads_the_layout():
    assert tree_files(blocks("text")[0]) == [
        "event-gateway-chat/pyproject.toml", "event-gateway-chat/setup.cfg", "event-gateway-chat/gateway_chat/__init__.py",
        "event-gateway-chat/gateway_chat/plugin.py", "event-gateway-chat/tests/test_chat.py"]


def test_the_tutorial_from_an_empty_folder_to_a_received_test_event(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    write_package(work)
    venv = ChildVenv(tmp_path / "venv")
    steps, printed = run_shell_steps(venv, work, free_port())
    by_command = {step.command: step.result for step in steps}
    for command, result in by_command.items():
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    assert "3 passed" in by_command["pytest"].stdout
    assert json.loads(by_command["event-gateway plugins check chat"].stdout)["passed"] is True
    [listed] = [i for i in json.loads(by_command["event-gateway plugins"].stdout)["items"] if i["key"] == "chat"]
    assert listed["entry_point"] == "chat" and listed["config_schema"]["properties"]["webhook_url"]["writeOnly"]
    sent = json.loads(by_command["integrations add + integrations test"].stdout)
    assert sent["status"] == "delivered", sent
    integration = json.loads((work / "event-gateway-chat" / "integration.json").read_text())
    assert integration["config"]["webhook_url"] == "****0KEN"
    [request] = [json.loads(line) for line in printed.splitlines()]
    assert request["path"] == "/hooks/T0KEN" and json.loads(request["body"])["text"].startswith("[Test]")
