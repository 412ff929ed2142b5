"""The command-line twins: deliveries list|show|retry, integrations replay|test."""

from __future__ import annotations

import json

from gateway import Failed
from gateway.delivery import Deliverer
from gateway.store.base import now
from gateway.testing import FakeService, Reply

from .delivery_support import add, delivery_app, dstate, queue_event, scripted  # noqa: F401


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result, (json.loads(result.output) if result.exit_code == 0 else None)


def test_deliveries_list_show_retry(delivery_app, dstate, scripted):
    row = add(dstate)
    _, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [Failed("nope")]
    Deliverer(dstate, "w1").attempt(dstate.db.deliveries.claim("w1", 30, now()))

    _, listed = run(delivery_app, "deliveries", "list", "--status", "dead", "--integration", row.id)
    assert [d["id"] for d in listed] == [delivery_id]
    _, shown = run(delivery_app, "deliveries", "show", delivery_id)
    assert shown["attempt_log"][0]["reason"] == "nope"
    _, retried = run(delivery_app, "deliveries", "retry", delivery_id)
    assert retried["status"] == "pending"

    result, _ = run(delivery_app, "deliveries", "show", "nope")
    assert result.exit_code == 1 and "no delivery 'nope'" in result.output
    result, _ = run(delivery_app, "deliveries", "list", "--since", "whenever")
    assert result.exit_code == 2 and "is not a time" in result.output


def test_integrations_replay_and_test(delivery_app, dstate, scripted):
    row = add(dstate)
    event_id, delivery_id = queue_event(dstate, row.id, "e")
    scripted.script = [Failed("nope")]
    Deliverer(dstate, "w1").attempt(dstate.db.deliveries.claim("w1", 30, now()))

    _, replayed = run(delivery_app, "integrations", "replay", row.id, "--since", "2000-01-01")
    assert replayed["requeued"] == 1 and dstate.db.deliveries.get(delivery_id).status == "pending"
    _, replayed = run(delivery_app, "integrations", "replay", row.id, "--event-id", event_id)
    assert replayed["requeued"] == 1
    result, _ = run(delivery_app, "integrations", "replay", row.id)
    assert result.exit_code == 2 and "exactly one of" in result.output
    result, _ = run(delivery_app, "integrations", "replay", row.id, "--event-id", "missing")
    assert result.exit_code == 1 and "unknown event ids: missing" in result.output

    with FakeService(Reply(200, {})) as target:
        courier = add(dstate, "courier", {"url": target.url})
        result, sent = run(delivery_app, "integrations", "test", courier.id)
        assert result.exit_code == 0 and sent["outcome"] == "delivered" and len(target.received()) == 1
    result, _ = run(delivery_app, "integrations", "test", row.id)
    assert result.exit_code == 1 and "does not implement 'test_event'" in result.output
