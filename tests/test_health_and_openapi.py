"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from .conftest import AUTH, fixture_bytes
from .database_faults import sqlite_error


def test_healthz_reports_the_database(client, state, monkeypatch):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"

    def unreachable():
        raise OperationalError("SELECT 1", {}, sqlite_error("unreachable"))

    monkeypatch.setattr(state.db, "ping", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"

    def broken():
        raise OperationalError("SELECT 1", {}, Exception("something else"))

    monkeypatch.setattr(state.db, "ping", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "error: OperationalError"


def test_metrics_count_events_and_decisions(client):
    client.post("/api/v1/integrations", headers=AUTH, json={"plugin": "picky", "name": "p", "config": {"wanted_tag": "x"}})
    client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                content_type="application/json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_events_received_total{source="launchdarkly"} 1.0' in text
    assert 'gateway_decisions_total{outcome="skipped",plugin="picky"} 1.0' in text


def test_openapi_document(client):
    document = client.get("/api/v1/openapi.json", headers=AUTH).get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/integrations/{integration_id}" in document["paths"]
    schemas = document["components"]["schemas"]
    assert schemas["IntegrationCreate"]["required"] == ["name", "plugin"]
    assert "errors" in schemas["Error"]["properties"]


def test_unmatched_api_and_webhook_paths_answer_json(client):
    cases = [
        ("GET", "/api/v1/nothing", 404, None),
        ("GET", "/api/v1/integrations//explain", 404, None),
        ("PUT", "/api/v1/integrations", 405, "GET, HEAD, POST, OPTIONS"),
        ("GET", "/webhooks/launchdarkly", 405, "POST, OPTIONS"),
        ("POST", "/webhooks/a/b", 404, None),
    ]
    for method, path, status, allow in cases:
        response = client.open(path, method=method, headers=AUTH)
        assert response.status_code == status, path
        assert response.is_json and response.get_json()["error"], path
        assert response.headers.get("Allow") == allow
    assert client.get("/api/v1/nothing").status_code == 401  # the token is checked first
