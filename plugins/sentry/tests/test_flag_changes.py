"""Flag changes to Sentry's change tracking (the ``sentry-flags`` integration), Sentry mocked with
requests-mock."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path

import gateway
import pytest
import requests
from marshmallow import ValidationError

from gateway_sentry import flag_changes
from gateway_sentry import flag_changes_plugin as plugin

SECRET = "sentry-signing-secret-5a1f"
WEBHOOK = "https://sentry.io/api/0/organizations/acme/flags/hooks/provider/generic/"
LD_WEBHOOK = "https://sentry.io/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
RAW = {"_id": "6561f2a9c1d4e80f3b2a7c11", "kind": "flag", "name": "New checkout flow", "date": 1700917929000,
       "member": {"_id": "5d1c3e7a9b2f4a0098765432", "email": "ada@example.com"}, "description": "- Turned on",
       "accesses": [{"action": "updateOn", "resource": "proj/checkout:env/production:flag/new-checkout-flow"}]}
DATA = Path(__file__).parent / "data"


def config(**overrides):
    return plugin.FlagChangesConfigSchema().load({"webhook_url": WEBHOOK, "signing_secret": SECRET, **overrides})


def flag_event(action="updateOn", member=gateway.Member(email="ada@example.com", first_name="Ada"),
               source="launchdarkly", kind="flag", source_id="6561f2a9c1d4e80f3b2a7c11"):
    return gateway.Event(source=source, source_id=source_id, kind=kind,
                         occurred_at=datetime(2023, 11, 25, 13, 12, 9, 123000, tzinfo=timezone.utc),
                         accesses=[gateway.Access(action, "proj/checkout:env/production:flag/new-checkout-flow")],
                         project_key="checkout", environment_key="production", flag_key="new-checkout-flow",
                         member=member, raw=RAW)


@pytest.fixture
def http():
    return gateway.HttpClient(requests.Session(), allow_private=True)


def signed_by(request, header) -> bool:
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers[header], expected)


def test_generic_payload_is_signed_with_x_sentry_signature(http, requests_mock):
    requests_mock.post(WEBHOOK, status_code=201)
    result = plugin.deliver_event(flag_event(), config(), http)
    assert isinstance(result, gateway.Delivered) and "recorded by Sentry's change tracking (201)" in result.summary
    [request] = requests_mock.request_history
    assert signed_by(request, "X-Sentry-Signature") and request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["meta"] == {"version": 1}
    [entry] = body["data"]
    assert entry == {"action": "updated", "change_id": flag_changes.change_id(flag_event()),
                     "created_at": "2023-11-25T13:12:09",
                     "created_by": {"id": "ada@example.com", "type": "email"}, "flag": "new-checkout-flow"}
    assert 0 < entry["change_id"] < 2 ** 63
    assert result.details["change_id"] == entry["change_id"]


def test_change_id_is_stable_for_a_change_and_differs_between_changes():
    assert flag_changes.change_id(flag_event()) == flag_changes.change_id(flag_event())
    assert flag_changes.change_id(flag_event()) != flag_changes.change_id(flag_event(source_id="other"))


@pytest.mark.parametrize("action, expected", [("createFlag", "created"), ("cloneFlag", "created"),
                                              ("deleteFlag", "deleted"), ("updateRules", "updated")])
def test_actions(action, expected):
    assert flag_changes.generic_body(flag_event(action))["data"][0]["action"] == expected


@pytest.mark.parametrize("member, expected", [
    (gateway.Member(first_name="Ada", last_name="Lovelace"), {"id": "Ada Lovelace", "type": "name"}),
    (gateway.Member(id="5d1c3e7a"), {"id": "5d1c3e7a", "type": "id"}),
    (None, {"id": "LaunchDarkly", "type": "name"}),
])
def test_created_by(member, expected):
    assert flag_changes.created_by(flag_event(member=member)) == expected


def test_launchdarkly_format_forwards_the_payload_signed_with_x_ld_signature(http, requests_mock):
    requests_mock.post(LD_WEBHOOK, status_code=201)
    result = plugin.deliver_event(flag_event(), config(webhook_url=LD_WEBHOOK, format="launchdarkly"), http)
    assert isinstance(result, gateway.Delivered)
    [request] = requests_mock.request_history
    assert signed_by(request, "X-LD-Signature") and json.loads(request.body) == RAW


@pytest.mark.parametrize("status, expected", [
    (401, "Sentry refused the signature (401"), (403, "set signing_secret"),
    (404, "Sentry has no change-tracking webhook at webhook_url"), (400, "Sentry answered 400"),
    (302, "Sentry answered 302"),
])
def test_refusals_fail_with_a_reason_to_act_on(http, requests_mock, status, expected):
    requests_mock.post(WEBHOOK, status_code=status, json={"detail": "nope"})
    result = plugin.deliver_event(flag_event(), config(), http)
    assert isinstance(result, gateway.Failed) and expected in result.reason


@pytest.mark.parametrize("status", [429, 500, 503])
def test_busy_answers_are_retried(http, requests_mock, status):
    requests_mock.post(WEBHOOK, status_code=status, headers={"Retry-After": "7"})
    result = plugin.deliver_event(flag_event(), config(), http)
    assert isinstance(result, gateway.RetryLater) and result.after == 7


def test_the_secret_stays_out_of_what_is_recorded(http, requests_mock):
    requests_mock.post(WEBHOOK, status_code=401, text=f"bad secret {SECRET}")
    plugin.deliver_event(flag_event(), config(), http)
    assert SECRET not in str(http.exchanges)


def test_only_flag_changes_are_taken():
    assert plugin.check_event(flag_event(), config()) == gateway.Take()
    skip = plugin.check_event(flag_event(kind="project"), config())
    assert isinstance(skip, gateway.Skip) and "not a flag change (project)" in skip.reason
    other = plugin.check_event(flag_event(source="unleash"), config(format="launchdarkly", webhook_url=LD_WEBHOOK))
    assert isinstance(other, gateway.Skip) and "use the generic format" in other.reason


@pytest.mark.parametrize("overrides, field", [({"format": "split"}, "format"), ({"signing_secret": ""}, "signing_secret"),
                                              ({"webhook_url": "not a url"}, "webhook_url")])
def test_bad_config_is_refused(overrides, field):
    with pytest.raises(ValidationError) as error:
        config(**overrides)
    assert field in error.value.messages


@pytest.mark.parametrize("url, fmt, state, text", [
    (WEBHOOK, "generic", "ok", "X-Sentry-Signature"),
    (LD_WEBHOOK, "generic", "error", "set format to launchdarkly"),
    ("https://sentry.io/api/0/organizations/acme/flags/hooks/provider/unleash/", "generic", "error", "does not speak"),
    ("https://example.com/hook", "generic", "warning", "does not look like"),
])
def test_status_check_compares_the_url_provider_and_the_format(url, fmt, state, text):
    [check] = plugin.integration_status(config(webhook_url=url, format=fmt))
    assert check.state == state and text in check.message


@pytest.mark.parametrize("answer", ["flag-hooks-200-flag-too-long.json", "flag-hooks-200-meta-missing.json"])
def test_a_200_that_carries_errors_is_a_failed_delivery_with_sentrys_message(http, requests_mock, answer):
    body = (DATA / answer).read_text()
    requests_mock.post(WEBHOOK, status_code=200, text=body, headers={"Content-Type": "application/json"})
    result = plugin.deliver_event(flag_event(), config(), http)
    assert isinstance(result, gateway.Failed)
    assert result.reason.startswith("Sentry answered 200 but did not record the change: ")
    expected = {"flag-hooks-200-flag-too-long.json": "data[0].flag: Ensure this field has no more than 100 characters.",
                "flag-hooks-200-meta-missing.json": "meta: This field is required."}[answer]
    assert expected in result.reason


def test_a_200_with_an_empty_body_is_delivered(http, requests_mock):
    requests_mock.post(WEBHOOK, status_code=200, text="")
    assert isinstance(plugin.deliver_event(flag_event(), config(), http), gateway.Delivered)


def test_what_sentry_would_refuse_is_skipped_here_with_the_reason():
    long_key = dataclasses.replace(flag_event(), flag_key="f" * 101)
    skip = plugin.check_event(long_key, config())
    assert isinstance(skip, gateway.Skip) and "the flag key is 101 characters" in skip.reason
    assert plugin.check_event(dataclasses.replace(flag_event(), flag_key="f" * 100), config()) == gateway.Take()
    ld = config(format="launchdarkly", webhook_url=LD_WEBHOOK)
    assert plugin.check_event(flag_event(), ld) == gateway.Take()
    long_name = dataclasses.replace(flag_event(), raw={**RAW, "name": "n" * 101})
    skip = plugin.check_event(long_name, ld)
    assert isinstance(skip, gateway.Skip) and "the flag's name is 101 characters" in skip.reason
    no_member = dataclasses.replace(flag_event(), raw={k: v for k, v in RAW.items() if k != "member"})
    skip = plugin.check_event(no_member, ld)
    assert isinstance(skip, gateway.Skip) and "has no member" in skip.reason


def test_created_by_skips_an_identity_longer_than_sentry_takes():
    member = gateway.Member(id="5d1c3e7a", email="a" * 95 + "@example.com", first_name="Ada")
    assert flag_changes.created_by(flag_event(member=member)) == {"id": "Ada", "type": "name"}
