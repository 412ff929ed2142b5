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
