"""The lists' totals (API and UI), the events filters through their indexes, and paging back
through the deliveries list."""

from __future__ import annotations

import re

import pytest

from gateway.store import counting, events as event_store

from .conftest import AUTH
from .test_ui_at_size import listed, post, size_app, teams, ui  # noqa: F401  (fixtures)


def api(app, path: str) -> dict:
    response = app.test_client().get(path, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_events_list_answers_its_total_and_more_than_the_cap(size_app, teams, monkeypatch):  # noqa: F811
    ids = [post(size_app, f"total-{n}") for n in range(4)]
    assert api(size_app, "/api/v1/events?limit=1")["total"] == {"count": 4, "more": False, "counted_back_to": None}
    assert api(size_app, "/api/v1/events?source=launchdarkly")["total"]["count"] == 4
    assert api(size_app, "/api/v1/events?source=sentry")["total"] == {"count": 0, "more": False, "counted_back_to": None}
    monkeypatch.setattr(counting, "COUNT_CAP", 2)
    capped = api(size_app, "/api/v1/events")["total"]
    # counted back to the second newest, the last one counted
    assert capped["count"] == 2 and capped["more"] is True
    assert capped["counted_back_to"] == api(size_app, f"/api/v1/events/{ids[2]}")["received_at"]


def test_source_and_kind_together_look_through_a_window_of_the_kind(size_app, teams, monkeypatch):  # noqa: F811
    ids = [post(size_app, f"both-{n}") for n in range(3)]
    kind = api(size_app, "/api/v1/events?limit=1")["items"][0]["kind"]
    monkeypatch.setattr(event_store, "WINDOW", 2)
    first = api(size_app, f"/api/v1/events?source=sentry&kind={kind}&limit=5")
    assert first["items"] == [] and first["next_cursor"]  # two looked at, none matched: go on from there
    assert first["total"]["count"] == 0 and first["total"]["counted_back_to"] is not None
    rest = api(size_app, f"/api/v1/events?source=sentry&kind={kind}&limit=5&cursor={first['next_cursor']}")
    assert rest["items"] == [] and rest["next_cursor"] is None
    mine = api(size_app, f"/api/v1/events?source=launchdarkly&kind={kind}&limit=5")
    assert [e["id"] for e in mine["items"]] == ids[::-1][:2] and mine["next_cursor"]


def test_the_deliveries_list_answers_its_total(size_app, teams, monkeypatch):  # noqa: F811
    for n in range(3):
        post(size_app, f"deliveries-{n}")  # each denied by the 5 teams' policies: 5 skip lines
    assert api(size_app, "/api/v1/deliveries?limit=1")["total"] == {"count": 15, "more": False, "counted_back_to": None}
    assert api(size_app, "/api/v1/deliveries?status=dead")["total"]["count"] == 0
    assert api(size_app, f"/api/v1/deliveries?integration={teams[1]}")["total"]["count"] == 3
    monkeypatch.setattr(counting, "COUNT_CAP", 7)
    capped = api(size_app, "/api/v1/deliveries")["total"]
    assert capped["count"] == 7 and capped["more"] is True and capped["counted_back_to"]
    assert api(size_app, f"/api/v1/deliveries?integration={teams[1]}")["total"]["count"] == 3


def test_the_ui_lists_show_their_totals(size_app, teams, ui, monkeypatch):  # noqa: F811
    for n in range(3):
        post(size_app, f"ui-total-{n}")
    assert "3 events" in ui.get("/ui/events").text
    assert "0 events" in ui.get("/ui/events?status=dead").text
    assert "3 events" in ui.get(f"/ui/events?integration={teams[0]}&status=skipped").text
    assert "15 deliveries" in ui.get("/ui/deliveries").text
    monkeypatch.setattr(counting, "COUNT_CAP", 2)
    assert re.search(r"More than 2 events \(the count stopped at ", ui.get("/ui/events").text)


def follow(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def line_ids(html: str) -> list[tuple[str, str]]:
    """The (integration, event) of each row of a deliveries table, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(
        r'href="/ui/integrations/([0-9a-f-]{36})".*?href="/ui/events/([0-9a-f-]{36})"',
        html.split("<tbody>", 1)[-1], re.S)]


@pytest.mark.parametrize("filters", ["", "&status=skipped", "&integration=TEAM"])
def test_deliveries_pages_go_older_and_back_newer(size_app, teams, ui, filters):  # noqa: F811
    for n in range(3):
        post(size_app, f"back-{n}")  # 15 skip lines, 3 of each team
    filters = filters.replace("TEAM", teams[3])
    expected = 3 if "integration" in filters else 15
    pages = [ui.get(f"/ui/deliveries?limit=2{filters}").text]
    assert follow(pages[0], "prev") is None
    while follow(pages[-1], "next"):
        pages.append(ui.get(follow(pages[-1], "next")).text)
    seen = [line_ids(p) for p in pages]
    assert sum(len(s) for s in seen) == expected and len({x for s in seen for x in s}) == expected
    back = pages[-1]
    for expected in reversed(seen[:-1]):
        back = ui.get(follow(back, "prev")).text
        assert line_ids(back) == expected
    assert follow(back, "prev") is None



def test_a_source_alone_is_read_through_its_index_without_a_window(size_app, teams, ui, monkeypatch):  # noqa: F811
    from sqlalchemy import update

    from gateway.admin.ui import queries
    from gateway.host.state import get_state
    from gateway.store.tables import events

    ids = [post(size_app, f"rare-{n}") for n in range(4)]
    with get_state(size_app).db.engine.begin() as connection:
        connection.execute(update(events).where(events.c.id == ids[0]).values(source="other"))
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 2)
    page = ui.get("/ui/events?source=other").text
    assert listed(page) == [ids[0]] and "search further back" not in page and "1 event<" in page
    windowed = ui.get("/ui/events?source=other&status=skipped").text  # with a decision filter: a window
    assert listed(windowed) == [] and "search further back" in windowed


def test_deliveries_pages_go_back_across_search_windows(size_app, teams, ui, monkeypatch):  # noqa: F811
    from gateway.store import deliveries

    for n in range(5):
        post(size_app, f"windows-{n}")  # one skip line of teams[2] each
    monkeypatch.setattr(deliveries, "WINDOW", 2)
    pages = [ui.get(f"/ui/deliveries?limit=3&integration={teams[2]}").text]
    while follow(pages[-1], "next"):
        pages.append(ui.get(follow(pages[-1], "next")).text)
    assert "search further back" in pages[0]  # the window of two events ran out before the page was full
    forward = [line for page in pages for line in line_ids(page)]
    assert len(forward) == 5 and len(set(forward)) == 5
    backward, page = [], pages[-1]
    while follow(page, "prev"):
        page = ui.get(follow(page, "prev")).text
        backward = line_ids(page) + backward
    assert line_ids(page) == line_ids(pages[0])  # back at the newest page
    positions = [forward.index(line) for line in backward]
    assert positions == sorted(positions)  # newest first throughout, every line before the last page seen
    assert set(positions) == set(range(len(forward) - len(line_ids(pages[-1]))))
