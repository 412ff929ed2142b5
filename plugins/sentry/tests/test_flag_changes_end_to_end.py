"""Flag changes through the real gateway (a subprocess, over HTTP) to a fake Sentry on loopback that
verifies the change-tracking signature as Sentry does."""

from __future__ import annotations

import json
from pathlib import Path

import gateway
import pytest
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from sentry_helpers import SHARED_FIXTURES

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

SECRET = "sentry-signing-secret-5a1f"
HOOK_PATH = "/api/0/organizations/acme/flags/hooks/provider/generic/"
LD_FIXTURES = SHARED_FIXTURES.parent / "launchdarkly"
DATA = Path(__file__).parent / "data"


def ld_change(name: str, source_id: str) -> bytes:
    body = json.loads((LD_FIXTURES / name).read_bytes())
    body["_id"] = source_id
    return json.dumps(body).encode()


class FakeSentry:
    """Answers as Sentry's flag-hooks endpoint does: 401 to a wrong signature; 200 with the field
    errors as the body to a payload its generic provider refuses (a ``flag`` over 100 characters); 200
    with an empty body to one it records. Or what :attr:`script` says first."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.service = FakeService(self.reply)

    def reply(self, request) -> Reply:
        signature = request.header("X-Sentry-Signature") or ""
        if not gateway.verify_hmac_sha256(SECRET, request.body, signature):
            return Reply(401, "Not authorized.")
        if self.script:
            return self.script.pop(0)
        items = request.json().get("data") or []
        if any(len(item.get("flag") or "") > 100 for item in items):
            return Reply(200, json.loads((DATA / "flag-hooks-200-flag-too-long.json").read_text()))
        return Reply(200, b"")


@pytest.fixture
def sentry():
    fake = FakeSentry()
    with fake.service:
        yield fake


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "sentry-flags", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def add(gateway_process, sentry, secret=SECRET):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "sentry-flags", "name": "Sentry change tracking",
        "config": {"webhook_url": sentry.service.url + HOOK_PATH, "signing_secret": secret}})
    assert response.status_code == 201, response.text
    assert secret not in response.text
    return response.json()


def decision(gateway_process, event_id, status):
    def read():
        [found] = gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]
        return found["status"] == status and found
    return wait_until(read, 15, message=f"decision {status}")


def test_a_production_flag_change_reaches_sentry_signed(gateway_process, sentry):
    add(gateway_process, sentry)
    answer = gateway_process.post_webhook(ld_change("flag-turned-on-production.json", "change-1"))
    assert answer.status_code == 202 and answer.json()["queued"] == 1
    [request] = sentry.service.wait_for(1, HOOK_PATH)
    [entry] = request.json()["data"]
    assert entry["flag"] == "new-checkout-flow" and entry["action"] == "updated"
    assert entry["created_by"] == {"id": "ada@example.com", "type": "email"}
    delivered = decision(gateway_process, answer.json()["event_id"], "delivered")
    assert delivered["attempt_log"][0]["http"][0]["status"] == 200
    assert SECRET not in json.dumps(delivered)


def test_a_change_the_policy_does_not_allow_is_skipped_with_its_reason(gateway_process, sentry):
    add(gateway_process, sentry)
    answer = gateway_process.post_webhook(ld_change("flag-rules-updated-staging.json", "change-2"))
    assert answer.json()["skipped"] == 1
    skipped = decision(gateway_process, answer.json()["event_id"], "skipped")
    assert "denied" in skipped["reason"] and "env/staging" in skipped["reason"]
    assert sentry.service.received(HOOK_PATH) == []


def test_a_retried_change_carries_the_same_change_id(gateway_process, sentry):
    sentry.script = [Reply(503, {"detail": "unavailable"})]
    add(gateway_process, sentry)
    answer = gateway_process.post_webhook(ld_change("flag-turned-on-production.json", "change-3"))
    first, second = sentry.service.wait_for(2, HOOK_PATH)
    assert first.json()["data"][0]["change_id"] == second.json()["data"][0]["change_id"]
    delivered = decision(gateway_process, answer.json()["event_id"], "delivered")
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"]


def test_a_wrong_signing_secret_fails_with_what_to_do(gateway_process, sentry):
    add(gateway_process, sentry, secret="not-the-secret")
    answer = gateway_process.post_webhook(ld_change("flag-turned-on-production.json", "change-4"))
    dead = decision(gateway_process, answer.json()["event_id"], "dead")
    assert "Sentry refused the signature (401: " in dead["reason"] and "Not authorized." in dead["reason"]
    assert "not-the-secret" not in json.dumps(dead)


def test_a_200_with_errors_is_a_failed_delivery_with_sentrys_message(gateway_process, sentry):
    sentry.script = [Reply(200, json.loads((DATA / "flag-hooks-200-meta-missing.json").read_text()))]
    add(gateway_process, sentry)
    answer = gateway_process.post_webhook(ld_change("flag-turned-on-production.json", "change-5"))
    dead = decision(gateway_process, answer.json()["event_id"], "dead")
    assert dead["reason"].startswith("Sentry answered 200 but did not record the change: meta: This field is required.")
    assert len(sentry.service.received(HOOK_PATH)) == 1


def test_a_flag_key_sentry_would_refuse_is_skipped_with_the_reason(gateway_process, sentry):
    add(gateway_process, sentry)
    body = json.loads(ld_change("flag-turned-on-production.json", "change-6"))
    long_key = "k" * 101
    body["accesses"] = [{"action": "updateOn", "resource": f"proj/checkout:env/production:flag/{long_key}"}]
    answer = gateway_process.post_webhook(json.dumps(body).encode())
    assert answer.json()["skipped"] == 1
    skipped = decision(gateway_process, answer.json()["event_id"], "skipped")
    assert "the flag key is 101 characters, and Sentry's change tracking takes at most 100" in skipped["reason"]
    assert sentry.service.received(HOOK_PATH) == []
