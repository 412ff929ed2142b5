"""A NUL character (``\\u0000``) anywhere a sender puts text — a JSON string, a query parameter, a
path, a UI form field — is refused with a 400 on every database (PostgreSQL cannot store it), and
never reaches the log as a raw NUL. The JSON bodies of every route are in test_hostile_bodies.py."""

from __future__ import annotations

import logging

import pytest

from .conftest import AUTH, add_integration
from .test_intake import stored_counts
from .ui_support import UiClient

QUERIES = [
    ("GET", "/api/v1/events?kind=%00"),
    ("GET", "/api/v1/events?source=a%00b"),
    ("GET", "/api/v1/deliveries?status=%00"),
    ("GET", "/api/v1/deliveries?since=%00"),
    ("GET", "/api/v1/integrations?refresh=%00"),
    ("GET", "/api/v1/events/%00"),
    ("GET", "/api/v1/integrations/ab%00"),
    ("GET", "/api/v1/events?x%00=1"),
    ("POST", "/webhooks/launchdarkly?x=%00"),
    ("POST", "/webhooks/integrations/%00"),
    ("GET", "/healthz?x=%00"),
]


@pytest.mark.parametrize("method,path", QUERIES)
def test_a_nul_in_the_query_or_path_is_a_json_400(app, client, method, path, caplog):
    add_integration(client, "recorder", config={"token": "recorder-token-0123456789"})
    caplog.set_level(logging.DEBUG)
    response = client.open(path, method=method, headers=AUTH, data=b"{}", content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.is_json and "NUL character" in response.get_json()["error"]
    assert "\x00" not in response.get_data(as_text=True)
    assert stored_counts(app) == (0, 0)
    assert not any("\x00" in record.getMessage() for record in caplog.records)


def test_an_unauthenticated_request_is_still_a_401(client):
    assert client.get("/api/v1/events?kind=%00").status_code == 401


def test_ui_pages_and_forms_refuse_a_nul(make_app, caplog):
    app = make_app()
    ui = UiClient(app.test_client())
    caplog.set_level(logging.DEBUG)
    response = ui.get("/ui/events?source=%00")
    assert response.status_code == 400 and "NUL character" in response.text
    response = ui.post("/ui/integrations/new?plugin=recorder",
                       data={"plugin": "recorder", "name": "a\x00b", "config.token": "recorder-token-0123456789"})
    assert response.status_code == 400 and "NUL character" in response.text
    assert ui.client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == []
    assert not any("\x00" in record.getMessage() for record in caplog.records)
