"""Dynatrace problem notifications as the ``dynatrace-problems`` integration receives them.

Dynatrace's custom integration (Settings > Integration > Problem notifications) posts a JSON
template of the user's choosing, its placeholders filled in: ``{ProblemID}`` (the display number,
``P-230412`` or ``230412``), ``{PID}`` (the internal id), ``{ProblemTitle}``, ``{State}`` (``OPEN``,
``RESOLVED``; ``MERGED`` on some versions), ``{ProblemSeverity}``, ``{ProblemImpact}``,
``{ImpactedEntities}`` (a JSON array of ``{"type", "name", "entity"}``), ``{ImpactedEntityNames}``,
``{Tags}`` (a comma-separated string), ``{ProblemURL}`` and ``{ProblemDetailsJSON}`` (a JSON object,
whose ``managementZones`` lists the problem's management zones). The README gives the template this
module reads; it is liberal where Dynatrace is (a quoted array, a list where a string is usual).

The request carries the integration's shared secret in :data:`SECRET_HEADER`, compared in constant
time before anything is read.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from gateway import InboundRequest, Rejected

SECRET_HEADER = "X-Flag-Gateway-Secret"
SOURCE = "dynatrace-problems"
TEST_TITLE = "Dynatrace problem notification test run"
COMMENT_MARKER = "Flag Event Gateway: Dynatrace problem"
"""How the comment of every flag change the integration makes starts; the Dynatrace plugin's
outbound payload recognises it (see :func:`problem_in_comment`)."""

FIELD_MAX_CHARS = 2000
MAX_ITEMS = 500


class MalformedNotification(ValueError):
    """The notification is JSON but not a problem notification this integration can read (422)."""


@dataclass(frozen=True)
class Problem:
    """What a rule looks at, read from one notification."""

    problem_id: str
    pid: str
    title: str
    state: str
    severity: str = ""
    impact: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()
    entities: tuple[dict[str, str], ...] = ()
    entity_names: tuple[str, ...] = ()
    management_zones: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def display_id(self) -> str:
        """``P-230412``: Dynatrace's display number, with its ``P-`` even when the template gave digits."""
        return f"P-{self.problem_id}" if self.problem_id.isdigit() else self.problem_id

    @property
    def is_test(self) -> bool:
        """Whether this is the notification Dynatrace's "Send test notification" button sends."""
        return TEST_TITLE.lower() in self.title.lower()

    def to_data(self) -> dict[str, Any]:
        """The problem as the event's ``data`` keeps it (read back by :func:`problem_from_data`)."""
        return {
            "problem_id": self.problem_id,
            "display_id": self.display_id,
            "pid": self.pid,
            "title": self.title,
            "state": self.state,
            "severity": self.severity,
            "impact": self.impact,
            "url": self.url,
            "tags": list(self.tags),
            "impacted_entities": [dict(e) for e in self.entities],
            "impacted_entity_names": list(self.entity_names),
            "management_zones": list(self.management_zones),
            "test": self.is_test,
        }


def problem_from_data(data: dict[str, Any]) -> Problem:
    """The :class:`Problem` an event's ``data`` was written from."""
    return Problem(
        problem_id=data["problem_id"], pid=data["pid"], title=data["title"], state=data["state"],
        severity=data.get("severity", ""), impact=data.get("impact", ""), url=data.get("url", ""),
        tags=tuple(data.get("tags", ())), entities=tuple(data.get("impacted_entities", ())),
        entity_names=tuple(data.get("impacted_entity_names", ())),
        management_zones=tuple(data.get("management_zones", ())),
    )


def verify_secret(request: InboundRequest, secret: str) -> None:
    """Raise :class:`Rejected` (401) unless :data:`SECRET_HEADER` carries ``secret``."""
    given = request.header(SECRET_HEADER)
    if not given:
        raise Rejected(401, f"missing {SECRET_HEADER} header: add it to the Dynatrace custom "
                                    "integration with the integration's shared_secret")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Rejected(401, f"{SECRET_HEADER} does not match the integration's shared_secret")


# reading the placeholders ---------------------------------------------------------------------------

def _text(body: dict[str, Any], *names: str, required: bool = False) -> str:
    """The first of ``names`` present in ``body``, as stripped text."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise MalformedNotification(f"{name} must be a string, got {type(value).__name__}")
        text = str(value).strip()
        if len(text) > FIELD_MAX_CHARS:
            raise MalformedNotification(f"{name} is longer than {FIELD_MAX_CHARS} characters")
        if text:
            return text
    if required:
        raise MalformedNotification(f"missing {' or '.join(names)}: the template must include "
                                    f"\"{names[0]}\": \"{{{names[0]}}}\"")
    return ""


def _maybe_json(value: Any) -> Any:
    """A JSON placeholder the template quoted (``"{ImpactedEntities}"``) is read as JSON all the same."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _list(body: dict[str, Any], name: str) -> tuple[str, ...]:
    """A comma-separated string (as ``{Tags}`` is) or a list of strings, as stripped items."""
    value = _maybe_json(body.get(name))
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        raise MalformedNotification(f"{name} must be a comma-separated string or a list of strings")
    if len(items) > MAX_ITEMS:
        raise MalformedNotification(f"{name} has more than {MAX_ITEMS} items")
    return tuple(item.strip() for item in items if item.strip())


def _entities(body: dict[str, Any]) -> tuple[dict[str, str], ...]:
    value = _maybe_json(body.get("ImpactedEntities"))
    if value is None or value == "":
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedNotification("ImpactedEntities must be a JSON array of objects: write "
                                    "\"ImpactedEntities\": {ImpactedEntities} in the template, without quotes")
    if len(value) > MAX_ITEMS:
        raise MalformedNotification(f"ImpactedEntities has more than {MAX_ITEMS} items")
    return tuple({key.lower(): str(item[key]) for key in item if isinstance(item[key], (str, int))
                  and key.lower() in ("type", "name", "entity")} for item in value)


def _management_zones(body: dict[str, Any], details: dict[str, Any]) -> tuple[str, ...]:
    zones = list(_list(body, "ManagementZones"))
    listed = details.get("managementZones")
    if isinstance(listed, list):
        zones += [str(z["name"]).strip() for z in listed if isinstance(z, dict) and z.get("name")]
    return tuple(dict.fromkeys(z for z in zones if z))


def read_problem(body: Any) -> Problem:
    """The :class:`Problem` a notification body carries; :class:`MalformedNotification` says what is wrong."""
    if not isinstance(body, dict):
        raise MalformedNotification("the body must be a JSON object (the Dynatrace custom integration's "
                                    "payload template)")
    problem_id = _text(body, "ProblemID", "PID", required=True)
    details = _maybe_json(body.get("ProblemDetailsJSON"))
    if details is not None and details != "" and not isinstance(details, dict):
        raise MalformedNotification("ProblemDetailsJSON must be a JSON object: write "
                                    "\"ProblemDetailsJSON\": {ProblemDetailsJSON} in the template, without quotes")
    details = details if isinstance(details, dict) else {}
    # Dynatrace's own default payload writes "Problem URL" (with a space) and has no {ProblemSeverity}
    # or {State}-less variants; the problem's details carry severityLevel, impactLevel and status.
    fallback = {"State": "status", "ProblemSeverity": "severityLevel", "ProblemImpact": "impactLevel"}
    backup = {name: details[key] for name, key in fallback.items() if isinstance(details.get(key), str)}
    return Problem(
        problem_id=problem_id,
        pid=_text(body, "PID") or problem_id,
        title=_text(body, "ProblemTitle", required=True),
        state=(_text(body, "State") or _text(backup, "State", required=True)).upper(),
        severity=(_text(body, "ProblemSeverity") or _text(backup, "ProblemSeverity")).upper(),
        impact=(_text(body, "ProblemImpact") or _text(backup, "ProblemImpact")).upper(),
        url=_text(body, "ProblemURL", "Problem URL"),
        tags=_list(body, "Tags"),
        entities=_entities(body),
        entity_names=_list(body, "ImpactedEntityNames"),
        management_zones=_management_zones(body, details),
        details=details,
    )


def event_kind(state: str) -> str:
    """``problem-open``, ``problem-resolved``, ...: one kind per Dynatrace state."""
    return "problem-" + re.sub(r"[^a-z0-9]+", "-", state.lower()).strip("-")


def problem_in_comment(comment: str | None) -> str | None:
    """The display id of the Dynatrace problem a flag change's comment names as its cause, if any."""
    if not comment:
        return None
    found = re.search(re.escape(COMMENT_MARKER) + r" (\S+)", comment)
    return found.group(1) if found else None

