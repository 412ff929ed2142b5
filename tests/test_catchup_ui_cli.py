"""Catch-up from the web UI (the "Catch up now" button, the event page, the page without a
connection) and from the command line (``event-gateway connection catch-up``)."""

from __future__ import annotations

import json
import time

from gateway.kit.fake_flag_platform import flag_change_body
from gateway.runtime import catchup
from gateway.store import meta
from gateway.store.base import writing

from .test_ui_connection import PAGE, connect, platform, ui, ui_app, ui_state  # noqa: F401 (fixtures)


def missed_change(platform, state) -> dict:
    with writing(state.db.engine) as connection:
        meta.write(connection, catchup.CURSOR_KEY, str(int(time.time() * 1000) - 60_000))
    body = flag_change_body("checkout", "checkout-redesign", "Checkout redesign", "production", True, "",
                            {"production": {"on": True}})
    body["date"] = int(time.time() * 1000) - 10_000
    return platform.record_change(body)


def test_the_catch_up_button_takes_in_a_missed_change_and_the_event_says_so(ui, ui_state, platform):  # noqa: F811
    connect(ui, platform)
    entry = missed_change(platform, ui_state)
    response = ui.post(f"{PAGE}/catch-up")
    assert response.status_code == 303
    html = ui.get(PAGE).text
    assert "1 flag change(s) whose webhook did not arrive were taken in" in html
    assert "Catch-up from the audit log" in html and "1 missed change(s) caught" in html
    [row] = [r for r in ui_state.db.events.list(limit=10) if r.source_id == entry["_id"]]
    event_page = ui.get(f"/ui/events/{row.id}").text
    assert "received by catch-up" in event_page and "the webhook did not arrive" in event_page
    [run] = ui_state.db.audit_log.list(limit=10, action="connection.catch_up")
    assert (run.actor, run.role, run.origin) == ("admin", "admin", "ui")
    assert (run.details["trigger"], run.details["caught"]) == ("ui", 1)


def test_without_a_connection_the_page_says_catch_up_is_off(ui):  # noqa: F811
    html = ui.get(PAGE).text
    assert "Catch-up is off" in html and "is not delivered" in html
    ui.post(f"{PAGE}/catch-up")
    assert "catch-up is off" in ui.get(PAGE).text


def test_the_command_line_catches_up(ui, ui_app, ui_state, platform):  # noqa: F811
    runner = ui_app.test_cli_runner()
    refused = runner.invoke(args=["connection", "catch-up"])
    assert refused.exit_code != 0 and "not connected" in refused.output
    connect(ui, platform)
    entry = missed_change(platform, ui_state)
    result = runner.invoke(args=["connection", "catch-up"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["ran"] is True and answer["caught"] == 1 and answer["trigger"] == "cli"
    shown = json.loads(runner.invoke(args=["events", "list"]).output)
    assert any(e["source_id"] == entry["_id"] and e["received_via"] == "catch-up" for e in shown)
    [run] = ui_state.db.audit_log.list(limit=10, action="connection.catch_up")
    assert run.actor.startswith("cli:") and (run.role, run.origin, run.details["caught"]) == ("admin", "cli", 1)

