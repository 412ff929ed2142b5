"""The stored audit log: a row for each kind of change (API, UI, CLI, automatic) with who, origin,
action and object and no secret; read through the API (paged, filtered), the CLI and the UI; pruned
after GATEWAY_AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import json
import time

import pytest

from gateway.command import main
from gateway.delivery.pool import WorkerPool
from gateway.host.state import get_state
from gateway.store.flag_holds import HoldRow

from .conftest import AUTH, ADMIN_TOKEN, add_integration, fixture_bytes
from .test_flag_holds import holds_of
from .ui_support import UiClient

SECRET = "recorder-secret-token-7777"
CONNECTION_TOKEN = "api-0123456789abcdef-secret"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def audit(client, **query):
    answer = client.get("/api/v1/audit", query_string=query, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def stored(state):
    return state.db.audit_log.list(limit=1000)


def token_of(client, name, role):
    answer = client.post("/api/v1/tokens", json={"name": name, "role": role}, headers=AUTH)
    assert answer.status_code == 201
    return answer.get_json()["token"]


def test_each_kind_of_change_is_stored_with_who_and_without_secrets(app, client, state):
    operator = token_of(client, "olu", "operator")
    row = add_integration(client, "recorder", config={"token": SECRET})
    object_ = f"integration:{row['id']}"
    assert client.patch(f"/api/v1/integrations/{row['id']}", json={"enabled": False},
                        headers=bearer(operator)).status_code == 200
    assert client.patch(f"/api/v1/integrations/{row['id']}", json={"config": {"token": SECRET + "-2"}},
                        headers=AUTH).status_code == 200
    assert client.post(f"/api/v1/integrations/{row['id']}/replay", json={"since": 0},
                       headers=bearer(operator)).status_code == 200
    event = client.post("/webhooks/launchdarkly", data=fixture_bytes("launchdarkly/flag-turned-on-production.json"),
                        content_type="application/json").get_json()["event_id"]
    delivery = state.db.deliveries.for_event(event)
    if delivery:
        client.post(f"/api/v1/deliveries/{delivery[0].id}/retry", headers=bearer(operator))
    refused = client.put("/api/v1/connections/launchdarkly", json={"api_token": CONNECTION_TOKEN, "api_url": "nope"},
                         headers=AUTH)
    assert refused.status_code == 400
    ui = UiClient(app.test_client(), operator)
    ui.post(f"/ui/integrations/{row['id']}/enable")
    runner = app.test_cli_runner()
    assert runner.invoke(main, ["integrations", "remove", row["id"]]).exit_code == 0
    client.delete("/api/v1/tokens/olu", headers=AUTH)

    rows = stored(state)
    seen = {(r.action, r.actor, r.role, r.origin) for r in rows}
    assert ("token.create", "admin", "admin", "api") in seen
    assert ("integration.create", "admin", "admin", "api") in seen
    assert ("integration.update", "olu", "operator", "api") in seen
    assert ("integration.replay", "olu", "operator", "api") in seen
    assert ("integration.update", "olu", "operator", "ui") in seen
    assert ("connection.connect", "admin", "admin", "api") in seen
    assert ("token.revoke", "admin", "admin", "api") in seen
    assert ("ui.sign_in", "olu", "operator", "ui") in seen
    removed = [r for r in rows if r.action == "integration.delete"]
    assert removed and removed[0].actor.startswith("cli:") and removed[0].origin == "cli"
    assert {r.object for r in rows if r.action.startswith("integration.")} == {object_}
    assert [r.object for r in rows if r.action == "connection.connect"] == ["connection"]
    assert all(r.summary.startswith(r.action) for r in rows)
    text = json.dumps([r.__dict__ for r in rows])
    for secret in (SECRET, CONNECTION_TOKEN, ADMIN_TOKEN, operator):
        assert secret not in text


def test_a_flag_hold_is_an_automatic_entry_written_with_the_hold(app, client, state):
    row = add_integration(client, "recorder", config={"token": SECRET})
    holds = holds_of(app, row["id"])
    holds.hold("shop", "production", "checkout", cause="-1_V2", label="P-1 High failure rate")
    holds.release("shop", "production", "checkout")
    entries = audit(client, actor="gateway")["items"]
    assert [(e["action"], e["origin"], e["role"], e["object"]) for e in entries] == [
        ("flag.turned_on", "automatic", None, "flag:shop/production/checkout"),
        ("flag.turned_off", "automatic", None, "flag:shop/production/checkout")]
    assert entries[1]["details"] == {"flag": "shop/production/checkout", "integration": row["id"], "cause": "-1_V2"}
    # one transaction: a hold that cannot be written (no such integration) leaves no entry either
    before = len(stored(state))
    with pytest.raises(Exception):
        state.db.flag_holds.put(HoldRow("a/b/c", "no-such-integration", "x", "x", time.time()),
                                audit={"at": time.time(), "actor": "gateway", "role": None, "origin": "automatic",
                                       "action": "flag.turned_off", "object": "flag:a/b/c", "summary": "s",
                                       "details": {}})
    assert len(stored(state)) == before


def test_the_api_pages_and_filters_by_object_actor_action_and_time(client, state):
    ids = [add_integration(client, "recorder", name=f"r{n}", config={"token": SECRET})["id"] for n in range(5)]
    page = audit(client, limit=2)
    assert len(page["items"]) == 2 and page["next_cursor"]
    seen = [e["id"] for e in page["items"]]
    while page["next_cursor"]:
        page = audit(client, limit=2, cursor=page["next_cursor"])
        seen += [e["id"] for e in page["items"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5
    only = audit(client, object=f"integration:{ids[2]}")["items"]
    assert [e["details"]["integration"] for e in only] == [ids[2]]
    assert len(audit(client, actor="admin", action="integration.create")["items"]) == 5
    assert audit(client, actor="someone-else")["items"] == []
    assert audit(client, until="1970-01-02T00:00:00Z")["items"] == []
    assert len(audit(client, since="2000-01-01T00:00:00Z")["items"]) == 5
    assert client.get("/api/v1/audit?since=yesterday", headers=AUTH).status_code == 400
    assert client.get("/api/v1/audit?cursor=bad", headers=AUTH).status_code == 400


def test_a_viewer_reads_the_audit_log_in_the_api_and_the_ui(app, client):
    viewer = token_of(client, "vic", "viewer")
    add_integration(client, "recorder", config={"token": SECRET})
    assert client.get("/api/v1/audit", headers=bearer(viewer)).status_code == 200
    page = UiClient(app.test_client(), viewer).get("/ui/audit?action=integration.create")
    assert page.status_code == 200 and "integration.create" in page.text and SECRET not in page.text
    assert "token.create" not in page.text  # filtered


def test_the_cli_reads_the_audit_log(app, client):
    add_integration(client, "recorder", config={"token": SECRET})
    result = app.test_cli_runner().invoke(main, ["audit", "--action", "integration.create"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [(e["action"], e["actor"], e["origin"]) for e in entries] == [("integration.create", "admin", "api")]
    bad = app.test_cli_runner().invoke(main, ["audit", "--since", "soon"])
    assert bad.exit_code != 0


def test_old_entries_are_pruned_after_the_audit_retention(make_app):
    app = make_app({"GATEWAY_AUDIT_RETENTION_DAYS": "10"})
    state = get_state(app)
    assert state.settings.audit_retention_days == 10
    day = 86400
    for age in (20 * day, 5 * day):
        state.db.audit_log.write(at=time.time() - age, actor="gateway", role=None, origin="automatic",
                                 action="flag.turned_off", object=None, summary="old", details={})
    WorkerPool(state, 1, prefix="pruner")._prune()
    kept = stored(state)
    assert len(kept) == 1 and time.time() - kept[0].at < 6 * day
