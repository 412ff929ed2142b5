"""The mapping checks (requests-mock): each mapping's LaunchDarkly project and environment exist,
with "did you mean" for a near miss."""

from __future__ import annotations

import requests

from gateway_sentry import plugin
from gateway_sentry.projects import mapping_checks
from sentry_helpers import ACCESS_TOKEN, API_URL, INTEGRATION

SHOP = f"{API_URL}/api/v2/projects/shop?expand=environments"
PAYMENTS = f"{API_URL}/api/v2/projects/payments?expand=environments"
PROJECTS = f"{API_URL}/api/v2/projects"


def project(key, *environments):
    return {"key": key, "name": key.title(),
            "environments": {"items": [{"key": e, "name": e.title()} for e in environments]}}


def by_mapping(checks):
    return [(c.state, c.message) for c in checks]


def test_existing_projects_and_environments_are_ok(config, http, requests_mock):
    requests_mock.get(SHOP, json=project("shop", "production", "staging"))
    requests_mock.get(PAYMENTS, json=project("payments", "staging"))
    checks = mapping_checks(config, http)
    assert [c.state for c in checks] == ["ok", "ok", "ok"]
    assert checks[0].name == "LaunchDarkly environment for Sentry 4504123456789012/production → LaunchDarkly shop/production"
    assert checks[2].message == "LaunchDarkly has project payments with environment staging"
    assert requests_mock.request_history[0].headers["Authorization"] == ACCESS_TOKEN
    assert len(requests_mock.request_history) == 2  # each project read once


def test_a_missing_environment_suggests_the_closest(config, http, requests_mock):
    requests_mock.get(SHOP, json=project("shop", "production"))
    requests_mock.get(PAYMENTS, json=project("payments", "stage", "prod"))
    check = mapping_checks(config, http)[2]
    assert check.state == "error"
    assert check.message.startswith("LaunchDarkly project payments has no environment staging (did you mean stage?)")
    assert "correct ld_environment" in check.message


def test_a_missing_environment_without_a_near_one_lists_them(config, http, requests_mock):
    requests_mock.get(SHOP, json=project("shop", "production"))
    requests_mock.get(PAYMENTS, json=project("payments", "qa", "live"))
    assert "; it has live, qa:" in mapping_checks(config, http)[2].message


def test_a_missing_project_suggests_the_closest(config, http, requests_mock):
    requests_mock.get(SHOP, json=project("shop", "production"))
    requests_mock.get(PAYMENTS, status_code=404, json={"code": "not_found", "message": "Unknown resource"})
    requests_mock.get(PROJECTS, json={"items": [{"key": "shop"}, {"key": "payment"}]})
    check = mapping_checks(config, http)[2]
    assert check.state == "error"
    assert check.message.startswith("LaunchDarkly has no project payments (did you mean payment?)")


def test_a_project_that_cannot_be_read_is_a_warning(config, http, requests_mock):
    requests_mock.get(SHOP, status_code=403, json={"message": "forbidden"})
    requests_mock.get(PAYMENTS, exc=requests.ConnectTimeout("slow"))
    shop, _, payments = mapping_checks(config, http)
    assert shop.state == "warning" and "403" in shop.message and "reader access" in shop.message
    assert payments.state == "warning" and "cannot reach the LaunchDarkly API" in payments.message


def test_the_status_hook_checks_the_secret_the_mappings_then_the_metrics(config, http, requests_mock):
    requests_mock.get(SHOP, json=project("shop", "production"))
    requests_mock.get(PAYMENTS, json=project("payments", "staging"))
    requests_mock.get(f"{API_URL}/api/v2/metrics/shop", json={"items": [], "totalCount": 0})
    requests_mock.get(f"{API_URL}/api/v2/metrics/payments", json={"items": [], "totalCount": 0})
    names = [c.name.split(" for ")[0] for c in plugin.integration_status(config, http, INTEGRATION)]
    assert names == ["Sentry client secret"] + ["LaunchDarkly environment"] * 3 + ["metric"] * 3
