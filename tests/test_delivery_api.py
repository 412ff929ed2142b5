"""The deliveries API: list, show, retry, replay, test; events show attempts; metrics; OpenAPI."""

from __future__ import annotations

import pytest

from gateway import Failed, RetryLater
from gateway.delivery import Deliverer
from gateway.store.base import now
from gateway.testing import FakeService, Reply

from .conftest import AUTH
from .delivery_support import add, dclient, delivery_app, dstate, queue_event, scripted  # noqa: F401


def deliver_next(state):
    delivery = state.db.deliveries.claim("w1", 30, now())
    return Deliverer(state, "w1").attempt(delivery)


def test_list_filters_pages_and_validates(dstate, dclient):
    row, other = add(dstate), add(dstate, name="other")
    ids = [queue_event(dstate, row.id, f"e{n}")[1] for n in range(3)]
    queue_event(dstate, other.id, "o")

    body = dclient.get(f"/api/v1/deliveries?integration={row.id}&limit=2", headers=AUTH).get_json()
    assert [d["id"] for d in body["items"]] == [ids[2], ids[1]] and "attempt_log" not in body["items"][0]
    rest = dclient.get(f"/api/v1/deliveries?integration={row.id}&limit=2&cursor={body['next_cursor']}",
                       headers=AUTH).get_json()
    assert [d["id"] for d in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert len(dclient.get("/api/v1/deliveries?status=pending", headers=AUTH).get_json()["items"]) == 4
    assert dclient.get("/api/v1/deliveries?status=dead", headers=AUTH).get_json()["items"] == []
    assert dclient.get("/api/v1/deliveries?since=2999-01-01T00:00:00Z", headers=AUTH).get_json()["items"] == []
    assert len(dclient.get("/api/v1/deliveries?since=0", headers=AUTH).get_json()["items"]) == 4

    for query, message in (("status=lost", "unknown status 'lost'"), ("since=yesterday", "invalid since"),
                           ("limit=0", "limit must be"), ("cursor=%%%", "invalid cursor")):
        response = dclient.get(f"/api/v1/deliveries?{query}", headers=AUTH)
        assert response.status_code == 400 and message in response.get_json()["error"], query
    assert dclient.get("/api/v1/deliveries").status_code == 401


def test_show_has_every_attempt_and_the_event_shows_them_too(dstate, dclient, scripted):
    row = add(dstate)
    event_id, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [RetryLater("busy")]
    deliver_next(dstate)
    dstate.db.deliveries.retry(delivery_id, now())
    deliver_next(dstate)

    shown = dclient.get(f"/api/v1/deliveries/{delivery_id}", headers=AUTH).get_json()
    assert shown["status"] == "delivered" and shown["attempts"] == 2
    assert [(a["number"], a["outcome"], a["reason"]) for a in shown["attempt_log"]] == [
        (1, "retry", "busy"), (2, "delivered", "ok")]
    assert shown["attempt_log"][0]["started_at"].endswith("Z")
    event = dclient.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()
    assert event["decisions"][0]["attempt_log"] == shown["attempt_log"]
    missing = dclient.get("/api/v1/deliveries/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"] == "no delivery 'nope'"


def test_retry(dstate, dclient, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [Failed("rejected")]
    deliver_next(dstate)

    response = dclient.post(f"/api/v1/deliveries/{delivery_id}/retry", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    deliver_next(dstate)
    conflict = dclient.post(f"/api/v1/deliveries/{delivery_id}/retry", headers=AUTH)
    assert conflict.status_code == 409 and "it was delivered" in conflict.get_json()["error"]
    assert dclient.post("/api/v1/deliveries/nope/retry", headers=AUTH).status_code == 404


def test_replay_since_and_event_ids(dstate, dclient, scripted):
    row = add(dstate)
    event_id, delivery_id = queue_event(dstate, row.id, "e")
    skipped_event, _ = queue_event(dstate, row.id, "s", status="skipped")
    scripted.script = [Failed("rejected")]
    deliver_next(dstate)

    url = f"/api/v1/integrations/{row.id}/replay"
    response = dclient.post(url, json={"since": "2000-01-01T00:00:00Z"}, headers=AUTH)
    body = response.get_json()
    assert {k: v for k, v in body.items() if k != "results"} == {
        "integration_id": row.id, "requeued": 1, "created": 0, "skipped": 0, "in_flight": 0, "enabled": True}
    assert body["results"] == [{"event_id": event_id, "outcome": "queued", "delivery_id": delivery_id,
                                "reason": body["results"][0]["reason"], "previous_status": "dead",
                                "previous_reason": "rejected"}]
    assert dstate.db.deliveries.get(delivery_id).status == "pending"
    response = dclient.post(url, json={"event_ids": [skipped_event, event_id]}, headers=AUTH)
    assert response.status_code == 200 and response.get_json()["requeued"] == 2

    unknown = dclient.post(url, json={"event_ids": ["no-such-event"]}, headers=AUTH)
    assert unknown.status_code == 404 and "no-such-event" in unknown.get_json()["error"]
    for body, message in (({}, "exactly one of"), ({"since": 1, "event_ids": ["x"]}, "exactly one of"),
                          ({"since": "soon"}, "invalid since"), ({"event_ids": []}, "non-empty list"),
                          ({"event_ids": [1]}, "non-empty list"), ({"until": 1}, "unknown field")):
        response = dclient.post(url, json=body, headers=AUTH)
        assert response.status_code == 400 and message in response.get_json()["error"], body
    assert dclient.post("/api/v1/integrations/nope/replay", json={"since": 0}, headers=AUTH).status_code == 404


def test_test_send_goes_through_the_delivery_path(dstate, dclient):
    with FakeService(Reply(202, {})) as target:
        row = add(dstate, "courier", {"url": target.url + "/t"}, enabled=False)
        queue_event(dstate, row.id, "already-queued")  # must not be the one sent
        response = dclient.post(f"/api/v1/integrations/{row.id}/test", headers=AUTH)
        body = response.get_json()
        assert response.status_code == 200, body
        assert (body["outcome"], body["status"]) == ("delivered", "delivered")
        [request] = target.received()
    assert request.json()["source_id"].startswith("test-")
    assert body["delivery"]["attempt_log"][0]["http"][0]["status"] == 202
    event = dclient.get(f"/api/v1/events/{body['event_id']}", headers=AUTH).get_json()
    assert event["source"] == "test" and event["integration_id"] == row.id
    assert [d["integration_id"] for d in event["decisions"]] == [row.id]
    again = dclient.post(f"/api/v1/integrations/{row.id}/test", headers=AUTH).get_json()
    assert again["event_id"] != body["event_id"]


def test_test_send_reports_failures_and_missing_hook(dstate, dclient, scripted):
    with FakeService(Reply(503, {"error": "maintenance"})) as target:
        row = add(dstate, "courier", {"url": target.url})
        body = dclient.post(f"/api/v1/integrations/{row.id}/test", headers=AUTH).get_json()
    assert (body["outcome"], body["status"], body["reason"]) == ("retry", "retrying", "target answered 503")

    no_hook = add(dstate)
    response = dclient.post(f"/api/v1/integrations/{no_hook.id}/test", headers=AUTH)
    assert response.status_code == 404 and "test_event" in response.get_json()["error"]
    assert dclient.post("/api/v1/integrations/nope/test", headers=AUTH).status_code == 404


def test_metrics_show_the_queue(dstate, dclient, scripted):
    row = add(dstate)
    queue_event(dstate, row.id, "a", due=now() - 30)
    queue_event(dstate, row.id, "b")
    scripted.script = [Failed("no")]
    deliver_next(dstate)
    text = dclient.get("/metrics").get_data(as_text=True)
    assert 'gateway_deliveries{status="pending"} 1.0' in text
    assert 'gateway_deliveries{status="dead"} 1.0' in text
    assert "gateway_delivery_queue_depth 1.0" in text
    assert 'gateway_delivery_attempts_total{plugin="scripted",result="failed"} 1.0' in text
    assert 'gateway_delivery_attempt_seconds_count{plugin="scripted"} 1.0' in text
    oldest = next(line for line in text.splitlines() if line.startswith("gateway_delivery_oldest_pending_seconds"))
    assert float(oldest.split()[1]) >= 0


def test_metrics_survive_an_unreachable_database(dstate, dclient, monkeypatch):
    def broken(now):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(dstate.db.deliveries, "stats", broken)
    response = dclient.get("/metrics")
    assert response.status_code == 200 and "gateway_delivery_queue_depth" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/v1/deliveries", "/api/v1/deliveries/{delivery_id}",
                                  "/api/v1/deliveries/{delivery_id}/retry",
                                  "/api/v1/integrations/{integration_id}/replay",
                                  "/api/v1/integrations/{integration_id}/test"])
def test_openapi_documents_the_delivery_paths(dclient, path):
    assert path in dclient.get("/api/v1/openapi.json", headers=AUTH).get_json()["paths"]
