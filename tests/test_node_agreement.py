"""Nodes of one database must share the secret key and the admin token: a node that does not is
refused at start-up with a message naming the setting."""

from __future__ import annotations

import shutil

import pytest
import requests
from click.testing import CliRunner

from gateway import create_app
from gateway.command import main
from gateway.runtime.node_agreement import NodeMismatch
from gateway.host.state import get_state
from gateway.testing import GatewayProcess

from .conftest import ADMIN_TOKEN, AUTH, DEFAULT_PLUGINS, add_integration
from .multi_node_support import instance
from .test_migrations import V1_FILE, V1_SECRET_KEY

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick


@pytest.fixture
def node(fresh_database_url, tmp_path):
    """``node(name, **settings)``: an app with its own instance folder on one shared database."""
    url = fresh_database_url()
    apps = []

    def make(name: str, **settings: str):
        config = {"GATEWAY_INSTANCE_PATH": str(tmp_path / name), "GATEWAY_DATABASE_URL": url,
                  "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, **settings}
        app = create_app(config, plugins=DEFAULT_PLUGINS, entry_points=False)
        apps.append(app)
        return app

    make.url = url
    yield make
    for app in apps:
        get_state(app).db.dispose()


def test_nodes_with_the_same_key_share_secrets(node):
    first = node("a", GATEWAY_SECRET_KEY="shared key")
    add_integration(first.test_client(), "recorder", config={"token": "tok-0123456789abcdef"})
    second = node("b", GATEWAY_SECRET_KEY="shared key")
    [row] = get_state(second).db.integrations.list()
    assert get_state(second).box.open(row.secrets) == {"token": "tok-0123456789abcdef"}


@pytest.mark.parametrize("settings", [{"GATEWAY_SECRET_KEY": "another key"}, {}], ids=["other-key", "own-key-file"])
def test_a_node_with_another_secret_key_refuses_to_start(node, settings):
    node("a", GATEWAY_SECRET_KEY="shared key")
    with pytest.raises(NodeMismatch, match="give every node the same GATEWAY_SECRET_KEY"):
        node("b", **settings)


def test_a_database_from_before_fingerprints_is_checked_against_its_stored_secrets(tmp_path):
    db_file = tmp_path / "v1" / "gateway.db"
    db_file.parent.mkdir()
    shutil.copy(V1_FILE, db_file)
    config = {"GATEWAY_DATABASE_URL": f"sqlite:///{db_file}", "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}
    with pytest.raises(NodeMismatch, match="cannot open the secrets stored in this database.*GATEWAY_SECRET_KEY"):
        create_app({**config, "GATEWAY_INSTANCE_PATH": str(tmp_path / "wrong"), "GATEWAY_SECRET_KEY": "not it"},
                   plugins=DEFAULT_PLUGINS, entry_points=False)
    app = create_app({**config, "GATEWAY_INSTANCE_PATH": str(tmp_path / "right"), "GATEWAY_SECRET_KEY": V1_SECRET_KEY},
                     plugins=DEFAULT_PLUGINS, entry_points=False)
    get_state(app).db.dispose()  # it adopted the key: from now on the fingerprint decides
    with pytest.raises(NodeMismatch, match="its fingerprint differs"):
        create_app({**config, "GATEWAY_INSTANCE_PATH": str(tmp_path / "later"), "GATEWAY_SECRET_KEY": "not it"},
                   plugins=DEFAULT_PLUGINS, entry_points=False)


@pytest.mark.parametrize("token, words", [("", "has no admin token"), ("another-token-0123456789", "differs")])
def test_a_node_without_the_admin_token_does_not_serve_the_api(node, token, words):
    node("a", GATEWAY_SECRET_KEY="k")
    other = node("b", GATEWAY_SECRET_KEY="k", GATEWAY_ADMIN_TOKEN=token)
    state = get_state(other)
    assert state.admin_token_hash is None and words in state.admin_token_problem
    answer = other.test_client().get("/api/v1/integrations", headers=AUTH)
    assert answer.status_code == 503 and answer.is_json
    assert "GATEWAY_ADMIN_TOKEN" in answer.get_json()["error"]
    assert other.test_client().get("/healthz").status_code == 200  # it runs: workers need no token


def test_real_processes_are_refused_with_the_setting_named(fresh_database_url, tmp_path):
    url = fresh_database_url()
    shared = {"GATEWAY_DATABASE_URL": url, "GATEWAY_SECRET_KEY": "shared key", "GATEWAY_PLUGINS": ""}
    with GatewayProcess(instance(tmp_path, "first"), env=shared) as first:
        assert first.admin("GET", "/api/v1/integrations").status_code == 200
        # a worker on another machine: its own instance folder and key file, no shared key
        worker = GatewayProcess(instance(tmp_path, "worker"), env={**shared, "GATEWAY_SECRET_KEY": ""},
                                command=("worker",)).start()
        assert worker.process.wait(60) == 1
        assert "not starting" in worker.log() and "GATEWAY_SECRET_KEY" in worker.log()
        assert "Traceback" not in worker.log()
        # a serve node without the admin token
        serve = GatewayProcess(instance(tmp_path, "serve"), env={**shared, "GATEWAY_ADMIN_TOKEN": ""})
        with pytest.raises(AssertionError, match="exited with 1"):
            serve.start()
        assert "not starting" in serve.log() and "GATEWAY_ADMIN_TOKEN" in serve.log()
        assert requests.get(first.url + "/healthz", timeout=5).status_code == 200


def test_forget_admin_token_lets_the_next_node_record_a_new_one(node, monkeypatch):
    node("a", GATEWAY_SECRET_KEY="k")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", node.url)
    result = CliRunner().invoke(main, ["db", "forget-admin-token"])
    assert result.exit_code == 0 and '"forgotten": true' in result.output, result.output
    renewed = node("b", GATEWAY_SECRET_KEY="k", GATEWAY_ADMIN_TOKEN="the-new-token-0123456789")
    assert get_state(renewed).admin_token_problem is None
    assert renewed.test_client().get(
        "/api/v1/integrations", headers={"Authorization": "Bearer the-new-token-0123456789"}).status_code == 200
    # the replacement is in the audit log: forgotten by a person on the CLI, recorded by the node that started
    logged = get_state(renewed).db.audit_log.list(limit=10)
    assert [(e.action, e.origin, e.object) for e in logged] == [
        ("admin_token.record", "automatic", "token:admin"), ("admin_token.forget", "cli", "token:admin")]
    assert logged[1].actor.startswith("cli:") and logged[0].actor == "gateway"
    assert get_state(node("c", GATEWAY_SECRET_KEY="k")).admin_token_problem  # the old token is refused now
