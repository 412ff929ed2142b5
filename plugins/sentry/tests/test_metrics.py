"""The status checks (is there a metric for the event key?) and the create_metric action."""

from __future__ import annotations

import gateway
import pytest
import requests

from gateway_sentry import metrics, plugin
from sentry_helpers import ACCESS_TOKEN, API_URL, INTEGRATION, make_config

SHOP_METRICS = f"{API_URL}/api/v2/metrics/shop"
PAYMENTS_METRICS = f"{API_URL}/api/v2/metrics/payments"


def metric(key: str, event_key: str | None = None, **fields) -> dict:
    item = {"key": key, "name": key.replace("-", " ").title(), "kind": "custom" if event_key else "pageview"}
    if event_key:
        item.update(eventKey=event_key, isNumeric=False)
    item.update(fields)
    return item


def page(items: list[dict], total: int | None = None, next_href: str | None = None) -> dict:
    body: dict = {
        "items": items,
        "_links": {"self": {"href": "/api/v2/metrics/shop", "type": "application/json"}},
    }
    if next_href:
        body["_links"]["next"] = {"href": next_href, "type": "application/json"}
    if total is not None:
        body["totalCount"] = total
    return body


def offsets(requests_mock, url: str) -> list[int]:
    return [int(r.qs["offset"][0]) for r in requests_mock.request_history if r.url.startswith(url)]


def status(config, http) -> list[gateway.StatusCheck]:
    """The metric checks of the status hook (the project checks are tested in test_projects.py)."""
    return metrics.status_checks(config, http)


class TestStatus:
    def test_metric_on_the_second_page(self, config, http, requests_mock):
        first = [metric(f"m-{i}", f"event-{i}") for i in range(49)] + [metric("signup-page")]
        requests_mock.get(
            SHOP_METRICS,
            [
                {"json": page(first, total=52, next_href="/api/v2/metrics/shop?limit=50&offset=50")},
                {
                    "json": page(
                        [metric("checkout-done", "checkout"), metric("sentry-errors", "sentry-errors")],
                        total=52,
                    )
                },
            ],
        )
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        checks = status(config, http)

        assert [check.state for check in checks] == ["ok", "ok", "error"]
        assert (
            checks[0].name == "metric for Sentry 4504123456789012/production → LaunchDarkly shop/production"
        )
        assert checks[0].message == (
            "metric 'Sentry Errors' (sentry-errors) of LaunchDarkly project shop "
            "counts event key 'sentry-errors'"
        )
        assert offsets(requests_mock, SHOP_METRICS) == [0, 50]
        shop_request = requests_mock.request_history[0]
        assert shop_request.qs["limit"] == ["50"]
        assert shop_request.headers["Authorization"] == ACCESS_TOKEN

    def test_each_project_is_read_once(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([metric("sentry-errors", "sentry-errors")], total=1))
        requests_mock.get(PAYMENTS_METRICS, json=page([metric("sentry-errors", "sentry-errors")], total=1))
        checks = status(config, http)
        assert len(checks) == 3
        assert len(requests_mock.request_history) == 2

    def test_missing_metric_offers_the_action(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([metric("checkout-done", "checkout")], total=1))
        requests_mock.get(PAYMENTS_METRICS, json=page([metric("sentry-errors", "sentry-errors")], total=1))
        shop, _, payments = status(config, http)
        assert shop.state == "error"
        assert shop.message == (
            "LaunchDarkly project shop has no metric with event key 'sentry-errors', so the Sentry errors "
            "imported into shop/production are not counted. Press \"Create metric in shop\" (the create_metric "
            "action of the API and CLI), or create a custom conversion metric with event key 'sentry-errors' in "
            "LaunchDarkly."
        )
        assert (shop.action, shop.action_params) == ("create_metric", {"ld_project": "shop"})
        assert payments.state == "ok"

    def test_pages_by_next_link_when_there_is_no_total(self, config, http, requests_mock):
        requests_mock.get(
            SHOP_METRICS,
            [
                {"json": page([metric("a", "a")], next_href="/api/v2/metrics/shop?offset=1")},
                {"json": page([metric("b", "b")], next_href="/api/v2/metrics/shop?offset=2")},
                {"json": page([metric("c", "c")])},
            ],
        )
        requests_mock.get(PAYMENTS_METRICS, json=page([]))
        assert status(config, http)[0].state == "error"
        assert offsets(requests_mock, SHOP_METRICS) == [0, 1, 2]

    def test_stops_on_an_empty_page(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([], total=10))
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        assert status(config, http)[0].state == "error"
        assert offsets(requests_mock, SHOP_METRICS) == [0]

    def test_gives_up_on_endless_paging(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([metric("a", "a")], next_href="/api/v2/metrics/shop?again"))
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        check = status(config, http)[0]
        assert check.state == "warning"
        assert "gave up after reading 200 metrics in 200 pages" in check.message

    def test_numeric_metric_is_a_warning(self, config, http, requests_mock):
        requests_mock.get(
            SHOP_METRICS, json=page([metric("sentry-errors", "sentry-errors", isNumeric=True)], total=1)
        )
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        check = status(config, http)[0]
        assert check.state == "warning"
        assert "is numeric" in check.message

    @pytest.mark.parametrize(
        ("status_code", "expected"),
        [
            (
                401,
                "LaunchDarkly refused the access token (401: Invalid access token (unauthorized)): "
                "set access_token to a valid access token",
            ),
            (
                403,
                "the access token may not read the metrics of project shop (403: Invalid access token "
                "(unauthorized)): give its role reader access to the project",
            ),
            (
                404,
                "LaunchDarkly has no project shop (404: Invalid access token (unauthorized)): "
                "check ld_project",
            ),
            (429, "LaunchDarkly answered 429 (Invalid access token (unauthorized)); try again later"),
            (302, "LaunchDarkly answered 302 (Invalid access token (unauthorized)): check api_url"),
        ],
    )
    def test_cannot_check_says_why(self, config, http, requests_mock, status_code, expected):
        requests_mock.get(
            SHOP_METRICS,
            status_code=status_code,
            json={"code": "unauthorized", "message": "Invalid access token"},
        )
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        shop, storefront, _ = status(config, http)
        assert shop.state == storefront.state == "warning"
        assert shop.message == f"cannot check the metrics of LaunchDarkly project shop: {expected}"
        assert shop.action is None

    def test_network_error_cannot_check(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, exc=requests.ConnectionError("connection refused"))
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        check = status(config, http)[0]
        assert check.state == "warning"
        assert "cannot reach the LaunchDarkly API" in check.message

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [
            ({"text": "<html>login</html>"}, "LaunchDarkly's answer is not JSON: check api_url"),
            ({"json": [1, 2]}, "LaunchDarkly's answer is not a JSON object: check api_url"),
            ({"json": {"data": []}}, "LaunchDarkly's answer has no items list"),
        ],
    )
    def test_unexpected_answers_cannot_check(self, config, http, requests_mock, answer, expected):
        requests_mock.get(SHOP_METRICS, **answer)
        requests_mock.get(PAYMENTS_METRICS, json=page([], total=0))
        assert status(config, http)[0].message.endswith(expected)

    def test_forbidden_api_url_cannot_check(self, monkeypatch, requests_mock):
        monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
        config = make_config(api_url="http://127.0.0.1:9")
        monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS")
        checks = status(config, gateway.HttpClient(requests.Session(), allow_private=False))
        assert all(check.state == "warning" for check in checks)
        assert "api_url may not be sent to" in checks[0].message
        assert requests_mock.request_history == []


def create(config, http, params) -> str:
    return plugin.integration_action("create_metric", params, config, http, INTEGRATION)


class TestCreateMetric:
    def test_creates_a_custom_conversion_metric(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([metric("checkout-done", "checkout")], total=1))
        requests_mock.post(SHOP_METRICS, status_code=201, json=metric("sentry-errors", "sentry-errors"))
        message = create(config, http, {"ld_project": "shop"})
        assert message == (
            "created custom conversion metric sentry-errors in LaunchDarkly project shop, "
            "counting event key 'sentry-errors'"
        )
        sent = requests_mock.last_request
        assert sent.method == "POST"
        assert sent.headers["Authorization"] == ACCESS_TOKEN
        assert sent.json() == {
            "key": "sentry-errors",
            "name": "Sentry errors (sentry-errors)",
            "description": "Sentry error events imported by the Flag Event Gateway: fewer is better.",
            "kind": "custom",
            "eventKey": "sentry-errors",
            "isNumeric": False,
            "successCriteria": "LowerThanBaseline",
            "tags": ["sentry", "event-gateway"],
        }

    def test_metric_key_is_made_from_the_event_key(self):
        assert metrics.metric_definition("Checkout errors: EU!")["key"] == "Checkout-errors-EU"
        assert metrics.metric_definition("!!!")["key"] == "sentry-errors"

    def test_existing_metric_is_not_created_again(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([metric("errors-from-sentry", "sentry-errors")], total=1))
        message = create(config, http, {"ld_project": "shop"})
        assert message == (
            "metric errors-from-sentry of LaunchDarkly project shop already counts "
            "event key 'sentry-errors'; "
            "nothing created"
        )
        assert [r.method for r in requests_mock.request_history] == ["GET"]

    def test_creates_when_the_list_cannot_be_read(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, status_code=403, json={"message": "no reader role"})
        requests_mock.post(SHOP_METRICS, status_code=201, json={})
        assert create(config, http, {"ld_project": "shop"}).startswith("created custom conversion metric")

    @pytest.mark.parametrize("params", [{}, {"ld_project": ""}, {"ld_project": 7}])
    def test_needs_a_project(self, config, http, params):
        with pytest.raises(gateway.Rejected) as refused:
            create(config, http, params)
        assert refused.value.status == 400
        assert "needs ld_project" in refused.value.message

    def test_project_must_be_mapped(self, config, http, requests_mock):
        with pytest.raises(gateway.Rejected) as refused:
            create(config, http, {"ld_project": "elsewhere"})
        assert refused.value.status == 400
        assert "'elsewhere' is not in this integration's environment_mappings" in refused.value.message
        assert requests_mock.request_history == []

    @pytest.mark.parametrize(
        ("status_code", "rejected", "fragment"),
        [
            (400, 400, "LaunchDarkly refused the metric definition (400: eventKey is invalid)"),
            (401, 400, "LaunchDarkly refused the access token (401: eventKey is invalid)"),
            (
                403,
                400,
                "may not create metrics in project shop (403: eventKey is invalid): "
                "give its role the createMetric action",
            ),
            (404, 400, "LaunchDarkly has no project shop (404: eventKey is invalid): check ld_project"),
            (
                409,
                409,
                "already has a metric with key sentry-errors, "
                "and it does not count event key 'sentry-errors'",
            ),
            (429, 503, "LaunchDarkly answered 429 (eventKey is invalid); try again later"),
            (502, 503, "LaunchDarkly answered 502 (eventKey is invalid); try again later"),
            (301, 502, "LaunchDarkly answered 301 (eventKey is invalid): check api_url"),
        ],
    )
    def test_failures_are_rejected_with_a_clear_message(
        self, config, http, requests_mock, status_code, rejected, fragment
    ):
        requests_mock.get(SHOP_METRICS, json=page([], total=0))
        requests_mock.post(SHOP_METRICS, status_code=status_code, json={"message": "eventKey is invalid"})
        with pytest.raises(gateway.Rejected) as refused:
            create(config, http, {"ld_project": "shop"})
        assert refused.value.status == rejected
        assert fragment in refused.value.message

    def test_network_error_is_rejected(self, config, http, requests_mock):
        requests_mock.get(SHOP_METRICS, json=page([], total=0))
        requests_mock.post(SHOP_METRICS, exc=requests.ReadTimeout)
        with pytest.raises(gateway.Rejected) as refused:
            create(config, http, {"ld_project": "shop"})
        assert refused.value.status == 502
        assert "cannot reach the LaunchDarkly API" in refused.value.message

    def test_forbidden_api_url_is_rejected(self, monkeypatch, requests_mock):
        monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
        config = make_config(api_url="http://127.0.0.1:9")
        monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS")
        with pytest.raises(gateway.Rejected) as refused:
            create(
                config, gateway.HttpClient(requests.Session(), allow_private=False), {"ld_project": "shop"}
            )
        assert refused.value.status == 400
        assert "api_url may not be sent to" in refused.value.message
