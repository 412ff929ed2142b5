"""Shared fixtures: an app factory with a fresh plugin manager per test, clients, fixtures' payloads."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from waitress import wasyncore
from waitress.server import create_server

from gateway import create_app
from gateway.host.state import get_state

from . import plugins_for_tests as test_plugins

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ON_POSTGRES = bool(os.environ.get("GATEWAY_TEST_DATABASE_URL"))  # see the root conftest.py
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def fixture_bytes(name: str) -> bytes:
    """A payload from ../shared/fixtures (e.g. ``launchdarkly/flag-turned-on-production.json``)."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


DEFAULT_PLUGINS = (
    ("recorder", test_plugins.Recorder()),
    ("picky", test_plugins.Picky()),
    ("exploding", test_plugins.Exploding()),
    ("inbox", test_plugins.Inbox()),
    ("leaky", test_plugins.Leaky()),
)


@pytest.fixture
def make_app(tmp_path, gateway_test_database, fresh_database_url):
    """Build a gateway app in a temporary instance folder; installed plugins are not loaded unless
    ``entry_points=True``. Each instance folder has its own database, as on SQLite: on PostgreSQL
    the first uses the test's schema and each further one a schema of its own."""
    apps = []
    databases: dict[str, str] = {}

    def make(config=None, plugins=DEFAULT_PLUGINS, entry_points=False, instance=None):
        instance_path = str(instance or tmp_path / f"instance{len(apps)}")
        settings = {"GATEWAY_INSTANCE_PATH": instance_path, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "TESTING": True}
        if gateway_test_database is not None:
            if instance_path not in databases:
                databases[instance_path] = gateway_test_database if not databases else fresh_database_url()
            settings["GATEWAY_DATABASE_URL"] = databases[instance_path]
        settings.update(config or {})
        app = create_app(settings, plugins=plugins, entry_points=entry_points)
        apps.append(app)
        return app

    yield make
    for app in apps:
        get_state(app).db.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def state(app):
    return get_state(app)


class LiveServer:
    """The app served by waitress (the production server) on a loopback port, in a thread."""

    def __init__(self, app):
        self.server = create_server(app, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self):
        """Let running requests finish (their threads end), then end the server's loop from inside
        it: closing its sockets from this thread would close the wake-up pipe under a request
        thread still answering (EBADF) and leave the loop running. The wake-up pipe itself is closed
        last, after the loop has ended, and a wake-up pulled after that goes nowhere: a request
        thread that outlived the wait (a loaded machine) would otherwise write to a closed pipe."""
        server = self.server
        server.task_dispatcher.shutdown(timeout=5)
        trigger = server.trigger

        def end_loop():
            for channel in list(server._map.values()):
                if channel is not trigger:
                    channel.close()
            trigger.del_channel(server._map)  # an empty map ends the loop

        trigger.pull_trigger(end_loop)
        self.thread.join(5)
        if not self.thread.is_alive():
            trigger._physical_pull = lambda: None
            trigger.close()


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()


def add_integration(client, plugin, name=None, config=None, policy=None, enabled=True):
    body = {"plugin": plugin, "name": name or plugin, "config": config or {}, "enabled": enabled}
    if policy is not None:
        body["policy"] = policy
    response = client.post("/api/v1/integrations", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
