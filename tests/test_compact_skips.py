"""Skip decisions are stored compactly (one row per event and reason, naming a set of integrations)
and still read back one line per integration: event detail, deliveries list and show, CLI, replay,
retry, removal and pruning."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gateway.host.state import get_state
from gateway.store import tables
from gateway.store.base import now

from .conftest import AUTH, add_integration, fixture_bytes

PROD = "launchdarkly/flag-turned-on-production.json"
STAGING = "launchdarkly/flag-rules-updated-staging.json"
PRODUCTION_ONLY = [{"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}]


def post(client, name: str, source_id: str):
    body = json.loads(fixture_bytes(name))
    body["_id"] = source_id
    response = client.post("/webhooks/launchdarkly", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def rows(app) -> dict[str, int]:
    state = get_state(app)
    with state.db.engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)).scalar()
                for table in (tables.events, tables.deliveries, tables.skips, tables.integration_sets,
                              tables.integration_set_members)}


@pytest.fixture
def skipping(client):
    """Twelve recorder integrations that take production changes only, and one that takes all."""
    ids = [add_integration(client, "recorder", name=f"prod {n:02d}", config={"token": f"t{n}"},
                           policy=PRODUCTION_ONLY)["id"] for n in range(12)]
    taker = add_integration(client, "recorder", name="all", config={"token": "t-all"})["id"]
    return ids, taker


def test_the_rows_written_per_event_do_not_grow_with_the_skipping_integrations(app, client, skipping):
    ids, taker = skipping
    first = post(client, STAGING, "s-1")
    assert (first["queued"], first["skipped"]) == (1, 12)
    after_first = rows(app)
    assert after_first["skips"] == 1 and after_first["integration_sets"] == 1
    assert after_first["integration_set_members"] == 12
    for n in range(2, 6):
        post(client, STAGING, f"s-{n}")
    after = rows(app)
    # each further event: its own row, one delivery (the taker), one skip row; no set written again
    assert after["events"] - after_first["events"] == 4
    assert after["deliveries"] - after_first["deliveries"] == 4
    assert after["skips"] - after_first["skips"] == 4
    assert after["integration_sets"] == 1 and after["integration_set_members"] == 12


def test_event_detail_shows_one_line_per_integration_with_the_engines_reason(client, skipping):
    ids, taker = skipping
    event_id = post(client, STAGING, "s-detail")["event_id"]
    detail = client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()
    decisions = {d["integration_id"]: d for d in detail["decisions"]}
    assert set(decisions) == {*ids, taker}
    assert decisions[taker]["status"] == "pending"
    explained = client.post(f"/api/v1/integrations/{ids[3]}/explain", headers=AUTH,
                            data=fixture_bytes(STAGING), content_type="application/json").get_json()
    for integration_id in ids:
        line = decisions[integration_id]
        assert line["status"] == "skipped" and line["attempts"] == 0 and line["attempt_log"] == []
        assert line["reason"].startswith("denied: no statement allows")
        assert line["integration_name"].startswith("prod ") and line["plugin"] == "recorder"
        assert line["id"] == f"{event_id}.{integration_id}"
    assert decisions[ids[3]]["reason"] in json.dumps(explained)
    assert set(decisions[ids[0]]) == set(decisions[taker])  # the same shape as a delivery


def test_why_did_integration_x_not_get_event_e(client, skipping):
    ids, _ = skipping
    event_id = post(client, STAGING, "s-why")["event_id"]
    post(client, PROD, "p-why")
    listed = client.get(f"/api/v1/deliveries?integration={ids[5]}&status=skipped", headers=AUTH).get_json()
    assert [d["event_id"] for d in listed["items"]] == [event_id]
    shown = client.get(f"/api/v1/deliveries/{listed['items'][0]['id']}", headers=AUTH).get_json()
    assert shown["status"] == "skipped" and "env/staging" in shown["reason"]
    everything = client.get(f"/api/v1/deliveries?integration={ids[5]}", headers=AUTH).get_json()["items"]
    assert sorted(d["status"] for d in everything) == ["pending", "skipped"]
    assert client.get(f"/api/v1/deliveries/{event_id}.no-such-integration", headers=AUTH).status_code == 404


def test_the_deliveries_list_pages_through_skip_lines_and_deliveries(client, skipping):
    for n in range(3):
        post(client, STAGING, f"s-page-{n}")
    seen, cursor = [], None
    while True:
        query = "/api/v1/deliveries?limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=AUTH).get_json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 3 * 13 and len({d["id"] for d in seen}) == 3 * 13
    stamps = [(d["created_at"], d["id"]) for d in seen]
    assert stamps == sorted(stamps, reverse=True)
    skipped = client.get("/api/v1/deliveries?status=skipped&limit=100", headers=AUTH).get_json()["items"]
    pending = client.get("/api/v1/deliveries?status=pending&limit=100", headers=AUTH).get_json()["items"]
    assert len(skipped) == 36 and len(pending) == 3


def test_a_skip_line_cannot_be_retried_but_its_event_can_be_replayed_or_overridden(app, client, skipping):
    ids, _ = skipping
    event_id = post(client, STAGING, "s-replay")["event_id"]
    line_id = f"{event_id}.{ids[0]}"
    refused = client.post(f"/api/v1/deliveries/{line_id}/retry", headers=AUTH)
    assert refused.status_code == 409 and "replay its event" in refused.get_json()["error"]
    replayed = client.post(f"/api/v1/integrations/{ids[0]}/replay", headers=AUTH, json={"event_ids": [event_id]})
    assert replayed.get_json()["requeued"] == 0 and replayed.get_json()["skipped"] == 1  # the policy still denies it
    overridden = client.post(f"/api/v1/integrations/{ids[0]}/override", headers=AUTH,
                             json={"event_id": event_id, "confirm": ["policy"]})
    assert overridden.get_json()["outcome"] == "queued"
    decisions = client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]
    mine = [d for d in decisions if d["integration_id"] == ids[0]]
    assert len(mine) == 1 and mine[0]["status"] == "pending" and "override" in mine[0]["reason"]
    assert len(decisions) == 13
    assert client.get(f"/api/v1/deliveries/{line_id}", headers=AUTH).get_json()["id"] == mine[0]["id"]
    stats = get_state(app).db.deliveries.stats(now())
    assert stats.by_status["pending"] == 2


def test_removing_an_integration_removes_its_skip_lines(app, client, skipping):
    ids, _ = skipping
    event_id = post(client, STAGING, "s-remove")["event_id"]
    assert client.delete(f"/api/v1/integrations/{ids[1]}", headers=AUTH).status_code in (200, 204)
    decisions = client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]
    assert ids[1] not in {d["integration_id"] for d in decisions} and len(decisions) == 12
    listed = client.get("/api/v1/deliveries?status=skipped&limit=100", headers=AUTH).get_json()["items"]
    assert len(listed) == 11 and ids[1] not in {d["integration_id"] for d in listed}
    later = post(client, STAGING, "s-after-remove")
    assert later["skipped"] == 11


def test_prune_removes_old_skips_their_events_and_unused_sets(app, client, skipping):
    state = get_state(app)
    post(client, STAGING, "s-old")
    with state.db.engine.begin() as connection:
        old = now() - 100 * 86400
        connection.execute(tables.skips.update().values(created_at=old))
        connection.execute(tables.events.update().values(received_at=old))
        connection.execute(tables.integration_sets.update().values(created_at=old))
        connection.execute(tables.deliveries.update().values(status="delivered", updated_at=old))
    result = state.db.deliveries.prune(now() - 30 * 86400)
    assert result.deliveries == 13 and result.events == 1
    assert rows(app) == {"events": 0, "deliveries": 0, "skips": 0, "integration_sets": 0,
                         "integration_set_members": 0}
    assert post(client, STAGING, "s-new")["skipped"] == 12  # the set is written again
    assert rows(app)["integration_set_members"] == 12


def test_the_cli_shows_skip_lines(app, client, skipping):
    ids, _ = skipping
    event_id = post(client, STAGING, "s-cli")["event_id"]
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["events", "show", event_id])
    assert shown.exit_code == 0, shown.output
    decisions = json.loads(shown.output)["decisions"]
    assert sum(1 for d in decisions if d["status"] == "skipped") == 12
    listed = runner.invoke(args=["deliveries", "list", "--integration", ids[2], "--status", "skipped"])
    assert [d["event_id"] for d in json.loads(listed.output)] == [event_id]


def test_a_database_before_compact_skips_is_upgraded_in_place_and_its_skipped_rows_still_read(
        fresh_database_url, make_app):
    from alembic import command

    from gateway.store import Database, migrations
    from gateway.store.base import writing

    url = fresh_database_url()
    older = Database(url)
    with writing(older.engine) as connection:  # what the release before compact skips left
        command.upgrade(migrations.alembic_config(connection), "0003")
        stamp = now()
        connection.execute(tables.integrations.insert().values(
            id="i-old", plugin="recorder", name="old", enabled=True, config="{}", secrets=None,
            policy="[]", created_at=stamp, updated_at=stamp))
        connection.execute(tables.events.insert().values(
            id="e-old", source="launchdarkly", source_id="x", dedupe_key="launchdarkly||x", kind="flag",
            title="t", occurred_at=stamp, received_at=stamp, body="{}", raw="{}"))
        connection.execute(tables.deliveries.insert().values(
            id="d-old", event_id="e-old", integration_id="i-old", plugin="recorder", status="skipped",
            reason="denied: the policy has no statements", attempts=0, created_at=stamp, updated_at=stamp))
    assert older.revision() == "0003"
    older.dispose()
    app = make_app({"GATEWAY_DATABASE_URL": url})
    assert get_state(app).db.revision() == migrations.head()
    [line] = get_state(app).db.deliveries.for_event("e-old")
    assert (line.id, line.status, line.reason) == ("d-old", "skipped", "denied: the policy has no statements")


def team_policy(team: str) -> list:
    return [{"effect": "allow", "resources": [f"proj/{team}:env/*:flag/*"], "actions": ["*"]}]


@pytest.fixture
def teams(client):
    """Twelve recorder integrations, each with a policy of its own (one team's project each)."""
    return [add_integration(client, "recorder", name=f"team {n:02d}", config={"token": f"t{n}"},
                            policy=team_policy(f"team-{n:02d}"))["id"] for n in range(12)]


def test_denials_by_policies_of_their_own_are_one_row_per_event(app, client, teams):
    first = post(client, STAGING, "t-1")
    assert (first["queued"], first["skipped"]) == (0, 12)
    after_first = rows(app)
    assert after_first["skips"] == 1 and after_first["integration_sets"] == 1
    assert after_first["integration_set_members"] == 12
    for n in range(2, 6):
        post(client, STAGING, f"t-{n}")
    after = rows(app)
    assert after["skips"] - after_first["skips"] == 4  # one row per event, not one per policy
    assert after["integration_sets"] == 1 and after["integration_set_members"] == 12
    with get_state(app).db.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.policy_revisions)).scalar() == 12


def test_each_denial_reads_back_with_the_reason_its_policy_gave(client, teams):
    event_id = post(client, STAGING, "t-detail")["event_id"]
    decisions = {d["integration_id"]: d for d in
                 client.get(f"/api/v1/events/{event_id}", headers=AUTH).get_json()["decisions"]}
    assert set(decisions) == set(teams)
    for n, integration_id in enumerate(teams):
        explained = client.post(f"/api/v1/integrations/{integration_id}/explain", headers=AUTH,
                                data=fixture_bytes(STAGING), content_type="application/json").get_json()
        line = decisions[integration_id]
        assert line["status"] == "skipped" and line["id"] == f"{event_id}.{integration_id}"
        assert line["reason"].startswith("denied: no statement allows") and f"proj/team-{n:02d}" in line["reason"]
        assert line["reason"] in json.dumps(explained)
    listed = client.get(f"/api/v1/deliveries?integration={teams[4]}&status=skipped", headers=AUTH).get_json()
    assert [(d["event_id"], d["reason"]) for d in listed["items"]] == [(event_id, decisions[teams[4]]["reason"])]
    shown = client.get(f"/api/v1/deliveries/{event_id}.{teams[4]}", headers=AUTH).get_json()
    assert shown["reason"] == decisions[teams[4]]["reason"]


def test_a_denial_keeps_the_reason_of_the_policy_revision_that_judged_it(client, teams):
    event_id = post(client, STAGING, "t-old")["event_id"]
    before = client.get(f"/api/v1/deliveries/{event_id}.{teams[0]}", headers=AUTH).get_json()["reason"]
    changed = client.patch(f"/api/v1/integrations/{teams[0]}", headers=AUTH, json={"policy": team_policy("other")})
    assert changed.status_code == 200, changed.get_json()
    after = client.get(f"/api/v1/deliveries/{event_id}.{teams[0]}", headers=AUTH).get_json()["reason"]
    assert after == before and "proj/team-00" in after and "proj/other" not in after
    later = post(client, STAGING, "t-new")["event_id"]
    assert "proj/other" in client.get(f"/api/v1/deliveries/{later}.{teams[0]}", headers=AUTH).get_json()["reason"]
