"""Batched imports (``batch_limits`` / ``deliver_batch``), the metric import API mocked with requests-mock."""

from __future__ import annotations

import uuid

import gateway
import pytest
import requests
from marshmallow import ValidationError

from gateway_sentry import batch, plugin
from sentry_helpers import ACCESS_TOKEN, EVENTS_URL, INTEGRATION, make_config
from test_delivery import metric_exists, posts, received_event  # noqa: F401

SHOP = f"{EVENTS_URL}/v2/event-data-import/shop/production"
PAYMENTS = f"{EVENTS_URL}/v2/event-data-import/payments/staging"


def item(n: int, *, staging: bool = False, delivery_id: str | None = None) -> gateway.BatchItem:
    """An error routed to shop/production (or payments/staging), with its own Sentry event id."""
    changes = {"event_id": f"{n:032x}"}
    if staging:
        changes.update(project=1, environment="staging")
    event = received_event(**changes)
    ref = gateway.DeliveryRef(id=delivery_id or str(uuid.uuid4()), attempt=1, integration=INTEGRATION)
    return gateway.BatchItem(event=event, delivery=ref)


def deliver(items, config=None, http=None):
    http = http or gateway.HttpClient(requests.Session(), allow_private=True)
    return plugin.deliver_batch(items, config or make_config(), http, INTEGRATION)


def sent_ids(request) -> list[str]:
    return [entry["data"]["sentryEventId"] for entry in request.json()]


def test_limits_come_from_the_config():
    assert plugin.batch_limits(make_config(), INTEGRATION) == gateway.Batching(max_size=100, max_delay=1.0)
    assert plugin.batch_limits(make_config(batch_size=7, batch_delay_seconds=0.25), INTEGRATION) == \
        gateway.Batching(max_size=7, max_delay=0.25)
    assert plugin.batch_limits(make_config(batch_size=1), INTEGRATION) is None  # one request per error


@pytest.mark.parametrize("field, value", [
    ("batch_size", 0), ("batch_size", 1001), ("batch_size", "10"), ("batch_delay_seconds", -1),
    ("batch_delay_seconds", 11), ("batch_delay_seconds", float("nan")),
])
def test_out_of_range_batching_is_refused(field, value):
    with pytest.raises(ValidationError) as error:
        make_config(**{field: value})
    assert field in error.value.messages


def test_one_request_per_project_and_environment(requests_mock):
    requests_mock.post(SHOP, status_code=202)
    requests_mock.post(PAYMENTS, status_code=202)
    items = [item(1), item(2, staging=True), item(3), item(4, staging=True), item(5)]
    outcomes = deliver(items)
    shop, payments = sorted(posts(requests_mock), key=lambda r: r.url != SHOP)
    assert sent_ids(shop) == [f"{n:032x}" for n in (1, 3, 5)]
    assert sent_ids(payments) == [f"{n:032x}" for n in (2, 4)]
    assert shop.headers["Authorization"] == ACCESS_TOKEN
    assert shop.headers["X-LaunchDarkly-Payload-ID"] == batch.payload_id([items[i].delivery.id for i in (0, 2, 4)])
    assert set(outcomes) == {i.delivery.id for i in items}
    assert all(isinstance(o, gateway.Delivered) for o in outcomes.values())
    first = outcomes[items[0].delivery.id]
    assert first.details["batch_size"] == 3 and first.details["ld_project"] == "shop"
    assert "in a request of 3" in first.summary
    assert outcomes[items[1].delivery.id].details["ld_environment"] == "staging"


def test_exchanges_name_the_deliveries_they_carried(requests_mock):
    requests_mock.post(SHOP, status_code=202)
    requests_mock.post(PAYMENTS, status_code=202)
    items = [item(1), item(2, staging=True)]
    http = gateway.HttpClient(requests.Session(), allow_private=True)
    deliver(items, http=http)
    posted = [e for e in http.exchanges if e.method == "POST"]
    assert sorted(e.deliveries for e in posted) == sorted([(items[0].delivery.id,), (items[1].delivery.id,)])
    assert [e["url"] for e in http.exchanges_for(items[0].delivery.id) if e["method"] == "POST"] == [SHOP]


def test_payload_id_is_the_same_for_the_same_deliveries_and_the_delivery_id_alone():
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    assert batch.payload_id([a, b, c]) == batch.payload_id([c, a, b])
    assert batch.payload_id([a, b]) != batch.payload_id([a, b, c])
    uuid.UUID(batch.payload_id([a, b]))
    assert batch.payload_id([a]) == a  # as deliver_event sends it


def test_a_retried_batch_is_sent_again_under_the_same_payload_id(requests_mock):
    requests_mock.post(SHOP, [{"status_code": 503, "json": {"message": "busy"}}, {"status_code": 202}])
    ids = [str(uuid.uuid4()) for _ in range(3)]
    first = deliver([item(n, delivery_id=ids[n]) for n in range(3)])
    assert all(isinstance(o, gateway.RetryLater) and "503" in o.reason for o in first.values())
    again = deliver([item(n, delivery_id=ids[n]) for n in (2, 0, 1)])  # handed back together, in any order
    assert all(isinstance(o, gateway.Delivered) for o in again.values())
    one, two = posts(requests_mock)
    assert one.headers["X-LaunchDarkly-Payload-ID"] == two.headers["X-LaunchDarkly-Payload-ID"]


def test_a_partly_refused_batch_is_split_until_the_bad_event_stands_alone(requests_mock):
    bad = f"{7:032x}"

    def answer(request, context):
        refused = bad in sent_ids(request)
        context.status_code = 400 if refused else 202
        return {"message": "invalid event", "code": "invalid_request"} if refused else None

    requests_mock.post(SHOP, json=answer)
    items = [item(n) for n in range(10)]
    outcomes = deliver(items)
    failed = [i for i in items if isinstance(outcomes[i.delivery.id], gateway.Failed)]
    assert [i.event.data["event_id"] for i in failed] == [bad]
    assert "refused the event as invalid (400: invalid event (invalid_request))" in outcomes[failed[0].delivery.id].reason
    assert sum(isinstance(o, gateway.Delivered) for o in outcomes.values()) == 9
    # every good event was taken exactly once, and the bad one was sent alone at last
    accepted = [e for r in posts(requests_mock) if bad not in sent_ids(r) for e in sent_ids(r)]
    assert sorted(accepted) == sorted(f"{n:032x}" for n in range(10) if n != 7)
    assert any(sent_ids(r) == [bad] for r in posts(requests_mock))


def test_a_too_large_payload_is_split_too(requests_mock):
    requests_mock.post(SHOP, [{"status_code": 413}, {"status_code": 202}, {"status_code": 202}])
    outcomes = deliver([item(n) for n in range(4)])
    assert all(isinstance(o, gateway.Delivered) for o in outcomes.values())
    assert [len(r.json()) for r in posts(requests_mock)] == [4, 2, 2]


def test_a_refusal_splitting_cannot_mend_fails_the_group_without_splitting(requests_mock):
    requests_mock.post(SHOP, status_code=404, json={"message": "unknown environment"})
    requests_mock.post(PAYMENTS, status_code=202)
    items = [item(1), item(2), item(3, staging=True)]
    outcomes = deliver(items)
    assert len(posts(requests_mock)) == 2
    assert "has no environment shop/production" in outcomes[items[0].delivery.id].reason
    assert isinstance(outcomes[items[1].delivery.id], gateway.Failed)
    assert isinstance(outcomes[items[2].delivery.id], gateway.Delivered)


def test_no_answer_for_one_group_retries_that_group_only(requests_mock):
    requests_mock.post(SHOP, exc=requests.ConnectTimeout)
    requests_mock.post(PAYMENTS, status_code=202)
    items = [item(1), item(2, staging=True)]
    outcomes = deliver(items)
    assert isinstance(outcomes[items[0].delivery.id], gateway.RetryLater)
    assert isinstance(outcomes[items[1].delivery.id], gateway.Delivered)


def test_an_event_no_longer_mapped_fails_alone(requests_mock):
    requests_mock.post(SHOP, status_code=202)
    items = [item(1), item(2, staging=True)]
    config = make_config(environment_mappings=[make_config()["environment_mappings"][0]])
    outcomes = deliver(items, config=config)
    assert isinstance(outcomes[items[0].delivery.id], gateway.Delivered)
    assert "since the config changed" in outcomes[items[1].delivery.id].reason


def test_the_access_token_stays_out_of_what_is_recorded(requests_mock):
    requests_mock.post(SHOP, status_code=400, text=f"bad token {ACCESS_TOKEN}")
    http = gateway.HttpClient(requests.Session(), allow_private=True)
    outcomes = deliver([item(1)], http=http)
    assert ACCESS_TOKEN not in str(http.exchanges)
    assert isinstance(outcomes.popitem()[1], gateway.Failed)
