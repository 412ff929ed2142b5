"""Helpers for the tests that run several gateway processes on one database."""

from __future__ import annotations

import os

import pytest

SHARED_SECRET_KEY = "secret key shared by every node of the test"


@pytest.fixture
def shared_database_url(gateway_test_database, tmp_path):
    """The database every node of the test uses: the test's PostgreSQL schema, or one SQLite file."""
    return gateway_test_database or "sqlite:///" + os.path.join(tmp_path, "shared", "gateway.db")


def node_env(database_url: str, **settings: str) -> dict[str, str]:
    """What every node shares (database, secret key; the admin token is set by GatewayProcess), plus ``settings``."""
    return {"GATEWAY_DATABASE_URL": database_url, "GATEWAY_SECRET_KEY": SHARED_SECRET_KEY,
            "GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", **settings}


def instance(tmp_path, name: str) -> str:
    """A node's own instance folder (log, nothing else: the database and key are shared)."""
    path = os.path.join(tmp_path, name)
    os.makedirs(path, exist_ok=True)
    return path


# The tests' integration takes production flag changes only, so that a staging change can ask a node
# whether it sees the integration yet without adding a delivery to count.
PRODUCTION_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


def wait_until_nodes_see_the_integration(*nodes, timeout: float = 15.0) -> None:
    """Each node reads the integrations again once its list is a second old (a change made on another
    node is not announced): wait until every node decides for the new integration (a skip)."""
    import json
    import uuid

    import requests

    from gateway.testing import wait_until

    from .delivery_support import ld_entry

    def probe(node) -> bool:
        body = json.loads(ld_entry(f"probe-{uuid.uuid4().hex[:12]}"))
        body["accesses"] = [{"action": "updateOn", "resource": "proj/checkout:env/staging:flag/new-checkout-flow"}]
        answer = requests.post(node.url + "/webhooks/launchdarkly", data=json.dumps(body), timeout=10,
                               headers={"Content-Type": "application/json"}).json()
        return answer.get("skipped") == 1

    for node in nodes:
        wait_until(lambda node=node: probe(node), timeout, interval=0.2,
                   message=f"node {node.url} to see the integration")
