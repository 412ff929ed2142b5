"""Template filters and helpers of the UI pages (all named ``ui_*``, so a host app's own are safe)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from gateway.store.base import now
from gateway.admin.ui.blueprint import bp

STATE_WORDS = {"ok": "green", "warning": "amber", "error": "red"}
STATUS_TONES = {"delivered": "ok", "skipped": "muted", "pending": "info", "in_flight": "info",
                "retrying": "warning", "dead": "error", "queued": "info",
                # an attempt's outcome
                "retry": "warning", "failed": "error", "lost": "warning"}


@bp.app_template_filter("ui_when")
def when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("ui_iso")
def iso(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


@bp.app_template_filter("ui_ago")
def ago(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    seconds = now() - stamp
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


@bp.app_template_filter("ui_json")
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False, default=str)


@bp.app_template_filter("ui_tone")
def tone(status: str) -> str:
    """The colour class of a delivery status or a check state."""
    return STATUS_TONES.get(status, status if status in ("ok", "warning", "error") else "muted")


@bp.app_template_filter("ui_after_verdict")
def after_verdict(reason: str, allowed: bool) -> str:
    """A policy decision's reason after the verdict word the page shows in bold ("Denied"), without
    saying it twice: "denied: no statement allows ..." becomes ": no statement allows ...", "denied by
    statement 1 ..." becomes " by statement 1 ..."."""
    word = "allowed" if allowed else "denied"
    if reason.startswith(word + ":"):
        return ":" + reason[len(word) + 1:]
    if reason.startswith(word + " "):
        return reason[len(word):]
    return ": " + reason


@bp.app_template_filter("ui_state_word")
def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


@bp.app_template_filter("ui_iso_when")
def iso_when(text: str | None) -> str:
    """An ISO 8601 time of the API (``checked_at``) as the pages show times: when, and how long ago."""
    if not text:
        return "never"
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text
    return f"{when(stamp)} ({ago(stamp)})"


@bp.app_template_filter("ui_warnings")
def delivery_warnings(delivery: Any) -> list[str]:
    """A delivery's warnings: delivered, but with something a person should know (as the API's ``warnings``)."""
    details = getattr(delivery, "details", None)
    if not isinstance(details, dict):
        return []
    return [str(w) for w in details.get("warnings") or []]
