"""Integration ids are random (their id is the webhook URL of an inbound integration: it must not be
guessable from another one), and ``/metrics`` (which lists integration ids and names) can be
protected with a bearer token, ``GATEWAY_METRICS_TOKEN``."""

from __future__ import annotations

import uuid

import pytest

from gateway.settings import SettingError

from .conftest import AUTH

METRICS_TOKEN = "metrics-scrape-token-0123456789"


def test_integration_ids_are_random_uuid4s_unrelated_to_each_other(client):
    ids = []
    for number in range(5):
        answer = client.post("/api/v1/integrations", headers=AUTH,
                             json={"plugin": "recorder", "name": f"r{number}", "config": {"token": "t0k3n-value-1"}})
        assert answer.status_code == 201
        ids.append(answer.get_json()["id"])
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert len({i[:8] for i in ids}) == 5 and len({i[-12:-4] for i in ids}) == 5  # no shared prefix, no counter


def test_an_id_of_the_earlier_kind_still_routes(client, app):
    from gateway.host.state import get_state

    state = get_state(app)
    row = state.db.integrations.create(plugin="recorder", name="old", enabled=True, config={},
                                       secrets=state.box.seal({"token": "t0k3n-value-1"}), policy=[])
    with state.db.engine.begin() as connection:
        from gateway.store.tables import integrations

        connection.execute(integrations.update().where(integrations.c.id == row.id)
                           .values(id="5f0c1d2e-3a4b-5c6d-7e8f-00000000002a"))
    shown = client.get("/api/v1/integrations/5f0c1d2e-3a4b-5c6d-7e8f-00000000002a", headers=AUTH)
    assert shown.status_code == 200 and shown.get_json()["name"] == "old"


def test_metrics_are_open_without_a_token_setting(client):
    assert client.get("/metrics").status_code == 200


def test_metrics_need_the_bearer_token_when_one_is_set(make_app):
    client = make_app({"GATEWAY_METRICS_TOKEN": METRICS_TOKEN}).test_client()
    client.post("/api/v1/integrations", headers=AUTH,
                json={"plugin": "recorder", "name": "secret-name", "config": {"token": "t0k3n-value-1"}})
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": METRICS_TOKEN},
                    AUTH):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "secret-name" not in refused.get_data(as_text=True)
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200 and "gateway_events_received" in allowed.get_data(as_text=True)


def test_a_weak_metrics_token_is_refused(make_app):
    with pytest.raises(SettingError, match="GATEWAY_METRICS_TOKEN"):
        make_app({"GATEWAY_METRICS_TOKEN": "abc"})
