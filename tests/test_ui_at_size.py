"""The web UI with many integrations and events: filters that see compact skips and policy denials,
searches bounded to a window of events, search by event id, skips grouped on the event page."""

from __future__ import annotations

import json
import re

import pytest

from gateway.host.state import get_state
from gateway.admin.ui import queries

from . import plugins_for_tests as test_plugins
from .conftest import AUTH, add_integration, fixture_bytes
from .ui_support import UiClient

STAGING = "launchdarkly/flag-rules-updated-staging.json"


def team_policy(team: str) -> list:
    return [{"effect": "allow", "resources": [f"proj/{team}:env/*:flag/*"], "actions": ["*"]}]


@pytest.fixture
def size_app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=(("recorder", test_plugins.Recorder()),))


@pytest.fixture
def teams(size_app):
    client = size_app.test_client()
    return [add_integration(client, "recorder", name=f"team {n:02d}", config={"token": f"t{n}"},
                            policy=team_policy(f"team-{n:02d}"))["id"] for n in range(5)]


@pytest.fixture
def ui(size_app):
    return UiClient(size_app.test_client())


def post(app, source_id: str) -> str:
    body = json.loads(fixture_bytes(STAGING))
    body["_id"] = source_id
    response = app.test_client().post("/webhooks/launchdarkly", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


def listed(html: str) -> list[str]:
    return re.findall(r'href="/ui/events/([0-9a-f-]{36})"', html)


def test_skipped_and_integration_filters_include_policy_denials(size_app, teams, ui):
    event_id = post(size_app, "denied-1")
    assert listed(ui.get("/ui/events?status=skipped").text) == [event_id]
    assert listed(ui.get(f"/ui/events?integration={teams[2]}").text) == [event_id]
    assert listed(ui.get(f"/ui/events?integration={teams[2]}&status=skipped").text) == [event_id]
    assert listed(ui.get("/ui/events?status=dead").text) == []
    page = ui.get("/ui/events").text
    assert "no integration" not in page and "5 integrations" in page and "by their policy" in page


def test_a_filtered_search_looks_through_a_window_and_says_where_it_stopped(size_app, teams, ui, monkeypatch):
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 2)
    ids = [post(size_app, f"w-{n}") for n in range(5)]
    first = ui.get("/ui/events?status=dead")
    assert listed(first.text) == [] and "Searched 2 events" in first.text and "search further back" in first.text
    seen = []
    link = re.search(r'href="(/ui/events\?[^"]*cursor=[^"]+)"', first.text).group(1).replace("&amp;", "&")
    while link:
        page = ui.get(link).text
        seen += listed(page)
        found = re.search(r'href="(/ui/events\?[^"]*cursor=[^"]+)"', page)
        link = found.group(1).replace("&amp;", "&") if found else None
    assert seen == []  # walked to the oldest event without a hit, a window at a time
    both = ui.get("/ui/events?status=skipped").text
    assert listed(both) == ids[::-1][:2]


def test_search_by_event_id_opens_the_event(size_app, teams, ui):
    event_id = post(size_app, "by-id")
    response = ui.get(f"/ui/events?q={event_id}")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/ui/events/{event_id}")


def test_the_menus_come_from_the_newest_events(size_app, teams, ui):
    post(size_app, "menu")
    sources, kinds = queries.UiQueries(get_state(size_app).db.engine).sources_and_kinds()
    assert sources == ["launchdarkly"] and kinds == ["flag"]
    page = ui.get("/ui/events?kind=segment").text  # a kind not among them stays chosen
    assert '<option selected>segment</option>' in page


def test_many_integrations_get_a_searchable_picker(size_app, ui):
    client = size_app.test_client()
    for n in range(31):
        add_integration(client, "recorder", name=f"r{n}", config={"token": f"t{n}"})
    page = ui.get("/ui/events").text
    assert 'list="flt-integration-list"' in page and "31 integrations" in page
    assert 'list="flt-integration-list"' in ui.get("/ui/deliveries").text


def test_an_event_page_groups_many_skips_of_one_kind(size_app, ui):
    client = size_app.test_client()
    teams = [add_integration(client, "recorder", name=f"team {n:02d}", config={"token": f"t{n}"},
                             policy=team_policy(f"team-{n:02d}"))["id"] for n in range(6)]
    taker = add_integration(client, "recorder", name="takes all", config={"token": "all"})["id"]
    event_id = post(size_app, "grouped")
    html = ui.get(f"/ui/events/{event_id}").text
    assert html.count('<article class="decision-block"') == 1  # the one that queued it, on top
    assert html.index(f'/ui/integrations/{taker}"') < html.index('class="skip-group"')
    assert "<strong>6 integrations</strong>: not in their policy" in html
    for n, integration_id in enumerate(teams):
        assert f'/ui/integrations/{integration_id}"' in html and f"proj/team-{n:02d}" in html


def test_a_deliveries_search_looks_through_a_window_of_events(size_app, teams, ui, monkeypatch):
    from gateway.store import deliveries

    monkeypatch.setattr(deliveries, "WINDOW", 2)
    ids = [post(size_app, f"d-{n}") for n in range(3)]
    first = client_json(size_app, f"/api/v1/deliveries?integration={teams[0]}&limit=5")
    assert [d["event_id"] for d in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    rest = client_json(size_app, f"/api/v1/deliveries?integration={teams[0]}&limit=5&cursor={first['next_cursor']}")
    assert [d["event_id"] for d in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    everyone = client_json(size_app, "/api/v1/deliveries?limit=7")["items"]
    assert len(everyone) == 7 and {d["event_id"] for d in everyone} == set(ids[1:])  # the newest skip rows first
    page = ui.get(f"/ui/deliveries?integration={teams[0]}&status=delivered").text
    assert "Searched the decisions of 2 events" in page and "search further back" in page


def client_json(app, path: str) -> dict:
    response = app.test_client().get(path, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_an_integrations_waiting_and_dead_deliveries_are_found_however_old(size_app, monkeypatch):
    """Lists of a status that waits or is dead are not windowed (removing an integration asks for
    its in-flight ones)."""
    from gateway.store import deliveries

    client = size_app.test_client()
    taker = add_integration(client, "recorder", name="takes all", config={"token": "all"})["id"]
    first = post(size_app, "old-pending")
    for n in range(3):
        post(size_app, f"newer-{n}")
    monkeypatch.setattr(deliveries, "WINDOW", 2)
    store = get_state(size_app).db.deliveries
    pending = store.list(integration_id=taker, status="pending", limit=10)
    assert len(pending) == 4 and pending[-1].event_id == first


def test_events_by_the_time_they_were_received(size_app, teams, ui):
    from sqlalchemy import update

    from gateway.store.tables import events

    ids = [post(size_app, f"time-{n}") for n in range(3)]
    with get_state(size_app).db.engine.begin() as connection:
        for n, event_id in enumerate(ids):
            connection.execute(update(events).where(events.c.id == event_id).values(received_at=1_700_000_000 + 3600 * n))
    assert listed(ui.get("/ui/events?from=2023-11-14T23:00:00Z").text) == ids[:0:-1]  # 22:13:20 + 1 h, + 2 h
    assert listed(ui.get("/ui/events?to=1700003600&status=skipped").text) == ids[1::-1]
    assert listed(ui.get("/ui/events?from=1700003600&to=1700003600").text) == [ids[1]]
    wrong = ui.get("/ui/events?from=yesterday").text
    assert 'aria-invalid="true"' in wrong and listed(wrong) == ids[::-1]  # shown, and not applied


def test_events_pages_go_older_and_back_newer(size_app, teams, ui):
    ids = [post(size_app, f"pages-{n}") for n in range(5)][::-1]  # newest first

    def follow(html: str, rel: str) -> str | None:
        found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
        return found.group(1).replace("&amp;", "&") if found else None

    first = ui.get("/ui/events?limit=2").text
    assert listed(first) == ids[:2] and follow(first, "prev") is None
    second = ui.get(follow(first, "next")).text
    third = ui.get(follow(second, "next")).text
    assert listed(second) == ids[2:4] and listed(third) == ids[4:] and follow(third, "next") is None
    back = ui.get(follow(third, "prev")).text
    assert listed(back) == ids[2:4]
    newest = ui.get(follow(back, "prev")).text
    assert listed(newest) == ids[:2] and follow(newest, "prev") is None
    assert listed(ui.get(follow(newest, "next")).text) == ids[2:4]
    skipped = ui.get(follow(ui.get("/ui/events?limit=2&status=skipped").text, "next")).text
    assert listed(ui.get(follow(skipped, "prev")).text) == ids[:2]
