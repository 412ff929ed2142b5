"""``--help`` and argument errors create nothing (issue 9, item 7): no instance folder, database,
key file or admin token, and no token printed. Run as a real ``event-gateway`` process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

CASES = [
    (["--help"], 0),
    ([], 2),  # no command: the help, as a usage error
    (["serve", "--help"], 0),
    (["integrations", "--help"], 0),
    (["integrations", "add", "--help"], 0),
    (["deliveries", "retry", "--help"], 0),
    (["integrations", "add"], 2),  # missing argument
    (["serve", "--port", "0"], 2),  # out of range
    (["events", "list", "--no-such-option"], 2),
    (["no-such-command"], 2),
    (["integrations", "add", "recorder", "--name", "x", "--config", "{bad"], 2),
    (["integrations", "add", "recorder", "--name", "x", "--config", "@no-such-file.json"], 2),
    (["integrations", "add", "recorder", "--name", "x", "--policy", "[1,"], 2),
    (["integrations", "replay", "some-id", "--since", "yesterday-ish"], 2),
    (["integrations", "replay", "some-id"], 2),  # neither --since nor --event-id
    (["integrations", "action", "some-id", "create_metric", "--params", "{bad"], 2),
    (["deliveries", "list", "--since", "not-a-time"], 2),
    (["connect", "launchdarkly", "--api-token", "t", "--statements", "{bad"], 2),
]


@pytest.mark.parametrize("args,status", CASES, ids=[" ".join(a) or "no-arguments" for a, _ in CASES])
def test_help_and_argument_errors_create_nothing(tmp_path, args, status):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_INSTANCE_PATH"] = str(instance)
    run = subprocess.run([sys.executable, "-m", "gateway", *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == status, run.stdout + run.stderr
    assert os.listdir(tmp_path) == []  # no instance folder, and nothing else either
    assert "admin API token" not in run.stdout + run.stderr


FLASK_CASES = [
    (["--help"], 0),
    (["integrations", "--help"], 0),
    (["integrations", "add", "recorder", "--name", "x", "--config", "{bad"], 2),
    (["deliveries", "list", "--since", "not-a-time"], 2),
    (["events", "list", "--no-such-option"], 2),
]


@pytest.mark.parametrize("args,status", FLASK_CASES, ids=[" ".join(a) for a, _ in FLASK_CASES])
def test_flask_help_and_argument_errors_create_nothing(tmp_path, args, status):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "FLASK_APP"}
    env["GATEWAY_INSTANCE_PATH"] = str(instance)
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == status, run.stdout + run.stderr
    assert os.listdir(tmp_path) == []
    assert "admin API token" not in run.stdout + run.stderr


def test_a_real_flask_command_still_builds_the_instance(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "FLASK_APP"}
    env.update(GATEWAY_INSTANCE_PATH=str(instance), GATEWAY_PLUGINS="")
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "events", "list"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (instance / "gateway.db").exists() and "admin API token" in run.stderr
    routes = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "routes"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert routes.returncode == 0, routes.stderr
    assert "/webhooks/<source_key>" in routes.stdout and "/api/v1/events" in routes.stdout


def test_the_help_still_lists_every_command(tmp_path):
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance")}
    run = subprocess.run([sys.executable, "-m", "gateway", "--help"], env=env, capture_output=True, text=True, timeout=60)
    for command in ("serve", "worker", "plugins", "integrations", "events", "deliveries", "policy"):
        assert f"  {command} " in run.stdout, command


def test_a_real_command_still_builds_the_instance(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_INSTANCE_PATH=str(instance), GATEWAY_PLUGINS="")
    run = subprocess.run([sys.executable, "-m", "gateway", "events", "list"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert (instance / "gateway.db").exists() and "admin API token" in run.stderr


def test_the_help_shows_only_the_gateways_own_options(tmp_path):
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance")}
    run = subprocess.run([sys.executable, "-m", "gateway", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for flask_option in ("--app", "--env-file", "--debug", "python-dotenv"):
        assert flask_option not in run.stdout, flask_option
    assert "--version" in run.stdout and "--help" in run.stdout
    refused = subprocess.run([sys.executable, "-m", "gateway", "--app", "other", "events", "list"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "No such option '--app'" in refused.stderr
    assert not (tmp_path / "instance").exists()


def test_flask_keeps_its_own_options_for_the_gateway_app(tmp_path):
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance")}
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "gateway", "--help"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "--app" in run.stdout and "integrations" in run.stdout


@pytest.mark.parametrize("port,shown", [(None, "[default: (8080; GATEWAY_PORT sets it)"),
                                        ("9191", "[default: (9191, from GATEWAY_PORT);")])
def test_serve_help_shows_the_port_that_will_be_used(tmp_path, port, shown):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_INSTANCE_PATH"] = str(tmp_path / "instance")
    if port:
        env["GATEWAY_PORT"] = port
    run = subprocess.run([sys.executable, "-m", "gateway", "serve", "--help"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert shown in " ".join(run.stdout.split())  # click wraps long help lines
