"""Fixtures of the Sentry plugin tests."""

from __future__ import annotations

from typing import Any

import gateway
import pytest
import requests

from sentry_helpers import make_config


@pytest.fixture
def config() -> dict[str, Any]:
    """A valid config with three mappings (by id, by slug, and to a second project)."""
    return make_config()


@pytest.fixture
def http() -> gateway.HttpClient:
    """The core's HTTP client, allowed to reach the mocked targets."""
    return gateway.HttpClient(requests.Session(), allow_private=True)


@pytest.fixture(autouse=True)
def forget_known_metrics():
    """What deliveries learnt of the metrics is per process: each test starts without it."""
    from gateway_sentry import metrics

    metrics._known.clear()
    yield
    metrics._known.clear()
