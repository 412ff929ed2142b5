"""``event-gateway plugins new NAME`` writes a package whose tests pass right after ``pip install -e``,
which the conformance check passes, and which the gateway then lists."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.kit.scaffold import ScaffoldError, render, write_package

from .child_venv import ChildVenv
from .conftest import ROOT


def test_scaffolded_package_installs_tests_checks_and_lists(tmp_path):
    made = subprocess.run([sys.executable, "-m", "gateway", "plugins", "new", "chat-notify"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    written = json.loads(made.stdout)
    package = tmp_path / "event-gateway-chat-notify"
    assert written["directory"] == str(package) and written["key"] == "chat-notify"
    assert (package / "gateway_chat_notify" / "py.typed").exists()

    venv = ChildVenv(tmp_path / "venv")
    installed = venv.run("pip install -e '.[test]'", cwd=package)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tests = venv.run("pytest", cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout
    check = venv.run("event-gateway plugins check chat-notify", cwd=package)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["passed"] is True
    listed = venv.run("event-gateway plugins", cwd=package, GATEWAY_INSTANCE_PATH=str(tmp_path / "instance"))
    assert listed.returncode == 0, listed.stderr
    [item] = [i for i in json.loads(listed.stdout)["items"] if i["key"] == "chat-notify"]
    assert item["entry_point"] == "chat-notify" and item["distribution"] == "event-gateway-chat-notify"
    # the gateway is installed in editable mode here, which mypy cannot follow: MYPYPATH shows it the way,
    # and the repository's mypy.ini keeps the gateway's own body out of the run, as for an installed gateway
    typed = venv.run(f"mypy --config-file {ROOT / 'mypy.ini'} gateway_chat_notify", cwd=package, MYPYPATH=str(ROOT))
    assert typed.returncode == 0, typed.stdout + typed.stderr


def test_scaffold_refuses_a_bad_name_and_a_used_folder(tmp_path):
    with pytest.raises(ScaffoldError, match="lowercase letters"):
        render("Chat Notify")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ScaffoldError, match="not an empty folder"):
        write_package("chat", tmp_path / "taken")
    result = subprocess.run([sys.executable, "-m", "gateway", "plugins", "new", "Bad!"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot be a plugin name" in result.stderr
