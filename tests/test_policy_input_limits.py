"""The work policy matching does per webhook is bounded (issue: an 800 KB webhook with long
resources took seconds against a maximal policy): a flag-platform entry with too many accesses, a
resource or action too long, or too many characters of accesses in all, is refused with a 400 that
names the limit. bench/bench_policy_worst_case.py measures the worst case at the limits."""

from __future__ import annotations

import json

import pytest

from gateway.policy import limits

from .conftest import AUTH, add_integration, fixture_bytes
from .test_intake import stored_counts

ENTRY = json.loads(fixture_bytes("launchdarkly/flag-turned-on-production.json"))


def entry(accesses) -> bytes:
    return json.dumps({**ENTRY, "_id": "limits-1", "accesses": accesses}).encode()


def resource(length: int) -> str:
    head = "proj/p:env/e:flag/"
    return head + "f" * (length - len(head))


TOO_MUCH = {
    "accesses": ([{"action": "updateOn", "resource": resource(40)}] * (limits.MAX_ACCESSES + 1),
                 f"at most {limits.MAX_ACCESSES} accesses"),
    "resource length": ([{"action": "updateOn", "resource": resource(limits.MAX_RESOURCE_LENGTH + 1)}],
                        f"at most {limits.MAX_RESOURCE_LENGTH} characters"),
    "action length": ([{"action": "u" * (limits.MAX_ACTION_LENGTH + 1), "resource": resource(40)}],
                      f"at most {limits.MAX_ACTION_LENGTH} characters"),
    "characters in all": ([{"action": "updateOn", "resource": resource(limits.MAX_RESOURCE_LENGTH)}]
                          * (limits.MAX_ACCESS_CHARACTERS // limits.MAX_RESOURCE_LENGTH + 1),
                          f"at most {limits.MAX_ACCESS_CHARACTERS} characters in all"),
}


@pytest.mark.parametrize("name", sorted(TOO_MUCH))
def test_a_webhook_past_a_limit_is_a_400_naming_it(app, client, name):
    add_integration(client, "recorder", config={"token": "recorder-token-0123456789"})
    accesses, message = TOO_MUCH[name]
    response = client.post("/webhooks/launchdarkly", data=entry(accesses), content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["error"]
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("name", sorted(TOO_MUCH))
def test_the_policy_simulator_refuses_the_same(client, name):
    accesses, message = TOO_MUCH[name]
    event = {**ENTRY, "accesses": accesses}
    response = client.post("/api/v1/policy/evaluate", json={"policy": [], "event": event}, headers=AUTH)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_a_webhook_at_the_limits_is_taken(app, client):
    add_integration(client, "recorder", config={"token": "recorder-token-0123456789"})
    per = limits.MAX_ACCESS_CHARACTERS // limits.MAX_ACCESSES
    accesses = [{"action": "updateOn", "resource": resource(per - len("updateOn"))} for _ in range(limits.MAX_ACCESSES)]
    response = client.post("/webhooks/launchdarkly", data=entry(accesses), content_type="application/json")
    assert response.status_code == 202, response.get_json()
    long_one = [{"action": "u" * limits.MAX_ACTION_LENGTH, "resource": resource(limits.MAX_RESOURCE_LENGTH)}]
    response = client.post("/webhooks/launchdarkly", data=json.dumps({**ENTRY, "_id": "limits-2",
                                                                      "accesses": long_one}),
                           content_type="application/json")
    assert response.status_code == 202, response.get_json()


def test_the_limits_keep_the_worst_case_small():
    assert limits.MAX_ACCESS_CHARACTERS <= 8192 and limits.MAX_RESOURCE_LENGTH <= limits.MAX_ACCESS_CHARACTERS
    assert limits.MAX_ACCESSES * 8 <= limits.MAX_ACCESS_CHARACTERS  # room for short real accesses


def test_the_access_limits_hold_at_their_documented_values_and_say_so_exactly():
    """Each cap at its documented value (docs/security.md), taken at the cap and refused one past it,
    with the whole message the sender reads."""
    assert (limits.MAX_ACCESSES, limits.MAX_RESOURCE_LENGTH, limits.MAX_ACTION_LENGTH,
            limits.MAX_ACCESS_CHARACTERS) == (50, 1024, 100, 4096)
    check = limits.access_limit_error
    assert check([("updateOn", "r")] * 50) is None
    assert check([("updateOn", "r")] * 51) == "'accesses' has 51 entries; at most 50 accesses are accepted"
    assert check([("a", "r"), ("a", "x" * 1024)]) is None
    assert check([("a", "r"), ("a", "x" * 1025)]) == (
        "accesses[1].resource is 1025 characters long; at most 1024 characters are accepted")
    assert check([("a", "r"), ("u" * 100, "r")]) is None
    assert check([("a", "r"), ("u" * 101, "r")]) == (
        "accesses[1].action is 101 characters long; at most 100 characters are accepted")
    assert check([("", "x" * 1024)] * 4) is None  # exactly 4,096 characters in all
    assert check([("", "x" * 1024)] * 3 + [("u", "x" * 1024)]) == (
        "the accesses hold 4097 characters of actions and resources; at most 4096 characters in all are accepted")
