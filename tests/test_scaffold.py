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

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick


@pytest.mark.parametrize("template", ["json", "chat"])
def test_scaffolded_package_installs_tests_checks_and_lists(tmp_path, template):
    made = subprocess.run([sys.executable, "-m", "gateway", "plugins", "new", "chat-notify", "--template", template],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
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
    # and the package's own mypy settings (setup.cfg) keep the gateway's body out of the run
    typed = venv.run("mypy gateway_chat_notify", cwd=package, MYPYPATH=str(ROOT))
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "instance/" in (package / ".gitignore").read_text().splitlines()


def test_the_chat_template_keeps_its_webhook_url_secret():
    files = render("team-chat", "chat")
    plugin = files["gateway_team_chat/plugin.py"]
    assert "webhook_url = SecretURL(required=True" in plugin and "TargetURL" not in plugin
    assert '"text"' in plugin
    assert "| `webhook_url` | yes |" in files["README.md"]
    json_files = render("team-chat", "json")
    assert "url = TargetURL(required=True" in json_files["gateway_team_chat/plugin.py"]
    assert "token = Secret(" in json_files["gateway_team_chat/plugin.py"]
    for made in (files, json_files):
        assert "[mypy-gateway.*]\nfollow_imports = silent" in made["setup.cfg"]
        assert "instance/" in made[".gitignore"]
    with pytest.raises(ScaffoldError, match="no template 'slack': choose one of chat, json"):
        render("team-chat", "slack")


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
