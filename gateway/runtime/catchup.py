"""Catch-up: reconcile from the flag platform's audit log, so that no flag change is lost with its webhook.

The flag platform retries a failed webhook once. With a connection (an API token), the gateway
lists the audit-log entries of a window ``[cursor, now - SAFETY_MARGIN_MS]`` (every page), fetches
the full entry of each ``_id`` it has not stored, keeps those the webhook's statements would have
sent, and takes them through the same intake as a webhook (:func:`gateway.inbound.intake.accept`: policy,
decisions, deliveries, de-duplication on the entry id), marked ``received_via: "catch-up"``. A
webhook that arrives later for the same entry is a duplicate.

The cursor (Unix ms) is stored in ``gateway_meta`` and moved only after the whole window was taken
in, so a run that stops half-way is done again from the same place (what it stored then is
recognised as stored). A run ends with one transaction: the cursor moved (unless the run failed),
the count of events caught, the run's summary kept with the connection, and the run's entry in the
audit log (``connection.catch_up``: by ``gateway``, origin ``automatic``, or by the person who asked
through the API, the UI or the CLI; counts and the window, no secret; a scheduled run that caught
nothing, failed in nothing and found no gap has none). One process of one node runs
at a time (:class:`CatchUpLease`). A 429 is
waited out (``Retry-After`` or ``X-Ratelimit-Reset``, at most :data:`RATE_LIMIT_MAX_WAIT` seconds
a time, :data:`RATE_LIMIT_TRIES` times a call). The look-back is at most
``GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS``; a longer gap is reported, not caught up.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from gateway.host import audit
from gateway.host.builtin import launchdarkly
from gateway.host.inbound_request import Rejected
from gateway.inbound.intake import accept
from gateway.policy import compile_policy
from gateway.redaction import redact
from gateway.store import audit_log, meta
from gateway.store.connections import merge_state, read_state
from gateway.store.base import now, reading, writing
from gateway.runtime.catchup_lease import CatchUpLease  # noqa: F401 (also used by the tests through this module)
from gateway.flagplatform.client import FlagApiError, FlagPlatformClient
from gateway.flagplatform.connection import PLATFORM, Connection

log = logging.getLogger(__name__)

CURSOR_KEY = "catchup_cursor"
CAUGHT_KEY = "catchup_caught"
SAFETY_MARGIN_MS = 2000
"""The window ends this long before now: an entry may take a moment to be listed."""
PAGE_LIMIT = 20
"""Entries per page (the documented maximum of ``limit``)."""
MAX_PAGES = 1000
RATE_LIMIT_TRIES = 5
RATE_LIMIT_MAX_WAIT = 60.0
RECEIVED_VIA = "catch-up"
MANUAL_TRIGGERS = frozenset({"api", "ui", "cli"})
"""Triggers that are a person's request (the audit log's origin); every other run is automatic."""
OFF = ("catch-up from the audit log is off: the gateway is not connected to the flag platform "
       "(event-gateway connect launchdarkly), so a flag change whose webhook is lost (the gateway down, "
       "unreachable or in a database outage for longer than the flag platform's one retry) is not delivered")


def _iso(ms: int | float | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_cursor(state) -> int | None:
    with reading(state.db.engine) as connection:
        raw = meta.read(connection, CURSOR_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def caught_total(state) -> int:
    """Events caught up so far by every process and node (for ``/metrics``)."""
    with reading(state.db.engine) as connection:
        raw = meta.read(connection, CAUGHT_KEY)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


class CatchUp:
    """One reconcile at a time per process; :meth:`run` does one."""

    def __init__(self, state, *, sleep: Callable[[float], None] = time.sleep):
        self.state = state
        self.sleep = sleep
        self.lease = CatchUpLease(state.db.engine)
        self._lock = threading.Lock()

    def run(self, trigger: str) -> dict[str, Any]:
        """Reconcile now; returns what was done (``ran`` false when not connected or another
        process is at it). ``trigger``: why (start, interval, outage-ended, api, cli, ui)."""
        connection = self.state.connection.current() if self.state.connection is not None else None
        if connection is None or not connection.api_token:
            return {"ran": False, "message": OFF}
        if not self._lock.acquire(blocking=False):
            return {"ran": False, "message": "a catch-up is running in this process; try again in a moment"}
        try:
            holder = self.lease.take()
            if holder is not None:
                return {"ran": False, "message": f"a catch-up is running elsewhere ({holder}); it covers this one"}
            try:
                return self._run(connection, trigger)
            finally:
                self.lease.give_back()
        finally:
            self._lock.release()

    def forget_cursor(self) -> None:
        """Disconnected: a later connection catches up from when its webhook is wired."""
        with writing(self.state.db.engine) as db:
            meta.forget(db, CURSOR_KEY)

    # one run --------------------------------------------------------------------------------------

    def _window(self, connection: Connection) -> tuple[int, int, str | None]:
        end = int(now() * 1000) - SAFETY_MARGIN_MS
        oldest = end - int(self.state.settings.catchup_max_lookback_hours * 3600 * 1000)
        cursor = read_cursor(self.state)
        if cursor is None:  # the first run: from when the connection was made
            start = connection.state.get("wired_at") or connection.updated_at or now()
            cursor = int(float(start) * 1000)
        gap = None
        if cursor < oldest:
            gap = (f"the last catch-up reached {_iso(cursor)}, longer ago than GATEWAY_CATCHUP_MAX_LOOKBACK_HOURS "
                   f"({self.state.settings.catchup_max_lookback_hours:g} h): flag changes between {_iso(cursor)} and "
                   f"{_iso(oldest)} whose webhook was lost are not caught up (see the flag platform's audit log)")
            log.warning("catch-up: %s", gap)
            cursor = oldest
        return cursor, max(cursor, end), gap

    def _run(self, connection: Connection, trigger: str) -> dict[str, Any]:
        started = now()
        after, before, gap = self._window(connection)
        result: dict[str, Any] = {"ran": True, "trigger": trigger, "started_at": started,
                                  "window_from": _iso(after), "window_to": _iso(before), "listed": 0,
                                  "caught": 0, "already_stored": 0, "not_sent_by_webhook": 0, "unreadable": 0,
                                  "gap": gap, "error": None, "error_status": None}
        policy = compile_policy(connection.webhook_statements) if connection.webhook_statements else None
        try:
            with self.state.connection.client(connection) as client:
                ids = self._list(client, after, before)
                result["listed"] = len(ids)
                for entry_id in ids:
                    self._take(client, entry_id, policy, result)
                    self.lease.take()  # renew: a long window must not let another process start
        except FlagApiError as exc:
            result["error"], result["error_status"] = redact(exc.message, connection.secret_values()), exc.status
            log.warning("catch-up from the audit log failed: %s", exc.message)
        result["finished_at"] = now()
        entry = self._store_result(connection, result, before)
        if entry is not None:
            entry.log()
        if result["caught"]:
            log.warning("catch-up (%s) took in %d flag change(s) whose webhook did not arrive, from %s to %s",
                        trigger, result["caught"], result["window_from"], result["window_to"])
        return result

    def _store_result(self, connection: Connection, result: dict[str, Any], before: int) -> audit.Pending | None:
        """Store the run's outcome in one transaction: the cursor (moved to ``before`` unless the run
        failed), the count caught, the summary kept with the connection (for its status and checks)
        and the run's audit log entry, which it returns. A scheduled run that found nothing to do (no
        change caught, no error, no gap) has no entry: it changed nothing, and one every few minutes
        would bury the entries that matter; its summary is kept with the connection all the same."""
        trigger = result["trigger"]
        if (trigger not in MANUAL_TRIGGERS and not result["caught"] and result["error"] is None
                and not result["gap"]):
            entry = None
        else:
            entry = audit.pending(
                "connection.catch_up", trigger if trigger in MANUAL_TRIGGERS else "automatic", trigger=trigger,
                result="failed" if result["error"] is not None else "done", error_status=result["error_status"],
                window_from=result["window_from"], window_to=result["window_to"], listed=result["listed"],
                caught=result["caught"], already_stored=result["already_stored"],
                not_sent_by_webhook=result["not_sent_by_webhook"], unreadable=result["unreadable"],
                gap=True if result["gap"] else None)
        summary = {k: result[k] for k in ("trigger", "started_at", "finished_at", "window_from", "window_to",
                                          "listed", "caught", "gap", "error", "error_status")}
        with writing(self.state.db.engine) as db:
            # the stored summary, not the connection this run started with: another run (this
            # process's follow-up, or another node's) may have written one since. Read first: it
            # locks the connection's row, so that runs of two nodes finishing at once write the
            # cursor, the count and the summary one after the other
            stored = read_state(db, PLATFORM)
            if result["error"] is None:
                meta.write(db, CURSOR_KEY, str(before))
                if result["caught"]:
                    total = meta.read(db, CAUGHT_KEY)
                    meta.write(db, CAUGHT_KEY, str(int(total or 0) + result["caught"]))
            state = stored if stored is not None else connection.state
            previous = state.get("catchup") if isinstance(state.get("catchup"), dict) else {}
            summary["last_caught_at"] = result["finished_at"] if result["caught"] else previous.get("last_caught_at")
            summary["last_caught"] = result["caught"] or previous.get("last_caught", 0)
            merge_state(db, PLATFORM, {"catchup": summary})
            if entry is not None:
                audit_log.write_with(db, entry)
        self.state.connection.forget_cached()
        if result["caught"] or result["error"] or previous.get("error"):
            try:
                from gateway.runtime.status import run_connection_checks

                run_connection_checks(self.state)  # the catch-up check says what this run found
            except Exception as exc:  # the checks run again in the background
                log.warning("could not check the connection after the catch-up: %s", exc)
        return entry

    def _list(self, client: FlagPlatformClient, after: int, before: int) -> list[str]:
        """The ids of every entry of the window, each once, following every page."""
        ids: dict[str, None] = {}
        page = self._call(lambda: client.list_audit_log(after=after, before=before, limit=PAGE_LIMIT))
        for _ in range(MAX_PAGES):
            items = [i for i in page["items"] if isinstance(i, dict) and isinstance(i.get("_id"), str)]
            for item in items:
                ids.setdefault(item["_id"], None)
            links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
            following = links.get("next") if isinstance(links.get("next"), dict) else {}
            href = following.get("href") if isinstance(following.get("href"), str) else None
            if href:
                page = self._call(lambda: client.list_audit_log(next_href=href))
            elif len(items) >= PAGE_LIMIT:  # a full page and no link: page on by date (repeats are fine)
                oldest = min((i["date"] for i in items if isinstance(i.get("date"), int)), default=None)
                if oldest is None or oldest + 1 >= before:
                    break
                before = oldest + 1
                page = self._call(lambda: client.list_audit_log(after=after, before=before, limit=PAGE_LIMIT))
            else:
                break
            if not page["items"]:
                break
        else:
            log.warning("catch-up: stopped after %d pages of the audit log", MAX_PAGES)
        return list(ids)

    def _take(self, client: FlagPlatformClient, entry_id: str, policy, result: dict[str, Any]) -> None:
        if self.state.db.events.stored_id(launchdarkly.SOURCE, entry_id) is not None:
            result["already_stored"] += 1
            return
        entry = self._call(lambda: client.get_audit_log_entry(entry_id))
        if entry is None:
            return
        try:
            event = launchdarkly.normalize_audit_entry(entry)
        except Rejected as exc:
            result["unreadable"] += 1
            log.warning("catch-up: audit-log entry %s cannot be read as an event: %s", entry_id, exc.message)
            return
        if policy is not None and not policy.evaluate(event.accesses, event.scope_tags,
                                                      event.scope_attributes).allowed:
            result["not_sent_by_webhook"] += 1
            return
        event = dataclasses.replace(event, received_via=RECEIVED_VIA)
        recorded = accept(self.state, event, raw_json=json.dumps(entry))
        if recorded.created:
            result["caught"] += 1
        else:
            result["already_stored"] += 1

    def _call(self, call: Callable[[], Any]) -> Any:
        """``call()``, waiting out a 429 (bounded) and trying again."""
        for attempt in range(RATE_LIMIT_TRIES):
            try:
                return call()
            except FlagApiError as exc:
                if exc.status != 429 or attempt == RATE_LIMIT_TRIES - 1:
                    raise
                wait = min(exc.wait if exc.wait is not None else 2.0 ** attempt, RATE_LIMIT_MAX_WAIT)
                log.info("catch-up: the audit-log API answered 429; waiting %.1f s", wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

def catchup_stats(state) -> tuple[int, float | None]:
    """For ``/metrics``: events caught up in all, and seconds since the end of the last window
    reconciled (None when not connected or never run)."""
    connection = state.connection.current() if state.connection is not None else None
    cursor = read_cursor(state) if connection is not None else None
    return caught_total(state), (now() - cursor / 1000) if cursor is not None else None
