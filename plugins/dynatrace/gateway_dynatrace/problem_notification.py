"""Dynatrace problem notifications as the ``dynatrace-problems`` integration receives them.

Dynatrace's custom integration (Settings > Integration > Problem notifications) posts a JSON
template of the user's choosing, its placeholders filled in: ``{ProblemID}`` (the display number,
``P-230412`` or ``230412``), ``{PID}`` (the internal id), ``{ProblemTitle}``, ``{State}`` (``OPEN``,
``RESOLVED``; ``MERGED`` when the problem was merged into another), ``{ProblemSeverity}``,
``{ProblemImpact}``, ``{ImpactedEntities}`` (a JSON array of ``{"type", "name", "entity"}``),
``{ImpactedEntityNames}``, ``{Tags}`` (a comma-separated string), ``{ProblemURL}``, and the problem's
details as a JSON object in one of two structures:

- ``{ProblemDetailsJSONv2}``: the Problems API **v2** problem (``problemId``, ``displayId``, ``title``,
  ``status`` ``OPEN``/``CLOSED``, ``severityLevel``, ``impactLevel``, ``managementZones`` as
  ``{id, name}``, ``entityTags`` as ``{context, key, value, stringRepresentation}``,
  ``impactedEntities`` and ``affectedEntities`` as ``{entityId: {id, type}, name}``, ...);
- ``{ProblemDetailsJSON}``: the Problems API **v1** problem (``id``, ``displayName``, ``status``,
  ``severityLevel``, ``impactLevel``, ``tagsOfAffectedEntities`` as ``{context, key, value}``, ...),
  which carries no management zones.

Both are read, under either name (their fields differ). A :class:`Problem` also records which of the
fields rules filter on (:data:`FILTERED_FIELDS`) the notification carried at all: a rule filtering on
one it did not carry cannot be judged (:mod:`.problem_rules`). JSON a template quoted (a string
holding JSON) is read with the gateway's strict reader. The README gives the template this module
reads.

The request carries the integration's shared secret in :data:`SECRET_HEADER`, compared in constant
time before anything is read.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from gateway import InboundRequest, InvalidJson, Rejected, strict_json_loads

SECRET_HEADER = "X-Flag-Gateway-Secret"
SOURCE = "dynatrace-problems"
TEST_TITLE = "Dynatrace problem notification test run"
COMMENT_MARKER = "Flag Event Gateway: Dynatrace problem"
"""How the comment of every flag change the integration makes starts; the Dynatrace plugin's
outbound payload recognises it (see :func:`problem_in_comment`)."""

FIELD_MAX_CHARS = 2000
MAX_ITEMS = 500
DETAILS_FIELDS = ("ProblemDetailsJSONv2", "ProblemDetailsJSON")
"""Where the template puts the problem's details (read in this order)."""

SEVERITY = "severity"
TAGS = "tags"
MANAGEMENT_ZONES = "management_zones"
FILTERED_FIELDS = {
    SEVERITY: ("a severity", '"ProblemSeverity": "{ProblemSeverity}"'),
    TAGS: ("entity tags", '"Tags": "{Tags}"'),
    MANAGEMENT_ZONES: ("management zones", '"ProblemDetailsJSONv2": {ProblemDetailsJSONv2}'),
}
"""The fields rules filter on that a notification may lack: what they are, and the placeholder that
brings them (``{ProblemDetailsJSON}``, the v1 structure, carries no management zones)."""
_STATES = {"CLOSED": "RESOLVED"}
"""A Problems API state as the notification's ``{State}`` names it: v2's ``CLOSED`` is ``RESOLVED``."""


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
    carried: frozenset[str] = frozenset(FILTERED_FIELDS)
    """Which of :data:`FILTERED_FIELDS` the notification carried (possibly empty: no tags)."""

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
            "carried": sorted(self.carried),
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
        carried=frozenset(data.get("carried", FILTERED_FIELDS)),
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


_JSON_STRING_LIST = re.compile(r"\[\s*[\"\]]")


def _json_in_string(name: str, value: Any, *, strings: bool = False) -> Any:
    """A JSON placeholder the template quoted (``"{ImpactedEntities}"``) is read as JSON all the same,
    with the gateway's strict reader; :class:`MalformedNotification` when that JSON is refused. With
    ``strings`` (a list placeholder such as ``{Tags}``) only a JSON array of strings is tried, so that
    ``[Kubernetes]app:checkout, ...`` stays a comma-separated string."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    looks = _JSON_STRING_LIST.match(text) if strings else text[:1] in ("[", "{")
    if not looks:
        return value
    try:
        return strict_json_loads(text)
    except InvalidJson as exc:
        if strings and " at line " in exc.message:
            return value  # not JSON by its grammar: a list of items that happens to start with ["
        raise MalformedNotification(f"{name} holds {exc.message}") from None


def _items(name: str, value: Any) -> tuple[str, ...]:
    """A comma-separated string (as ``{Tags}`` is) or a list of strings, as stripped items."""
    value = _json_in_string(name, value, strings=True)
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
    if any(len(item) > FIELD_MAX_CHARS for item in items):
        raise MalformedNotification(f"an item of {name} is longer than {FIELD_MAX_CHARS} characters")
    return tuple(item.strip() for item in items if item.strip())


def _list(body: dict[str, Any], name: str) -> tuple[str, ...]:
    return _items(name, body.get(name))


def _entities(body: dict[str, Any]) -> tuple[dict[str, str], ...]:
    value = _json_in_string("ImpactedEntities", body.get("ImpactedEntities"))
    if value is None or value == "":
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedNotification("ImpactedEntities must be a JSON array of objects: write "
                                    "\"ImpactedEntities\": {ImpactedEntities} in the template, without quotes")
    if len(value) > MAX_ITEMS:
        raise MalformedNotification(f"ImpactedEntities has more than {MAX_ITEMS} items")
    return tuple({key.lower(): str(item[key]) for key in item if isinstance(item[key], (str, int))
                  and key.lower() in ("type", "name", "entity")} for item in value)


# the problem's details: {ProblemDetailsJSONv2} and {ProblemDetailsJSON} -----------------------------

def _details(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The detail objects the notification carries, v2's first."""
    found = []
    for name in DETAILS_FIELDS:
        value = _json_in_string(name, body.get(name))
        if value is None or value == "":
            continue
        if not isinstance(value, dict):
            raise MalformedNotification(f"{name} must be a JSON object: write \"{name}\": {{{name}}} in the "
                                        "template, without quotes")
        found.append(value)
    return found


def _detail(details: list[dict[str, Any]], *keys: str) -> str:
    """The first of ``keys`` that a detail object gives as non-empty text."""
    for detail in details:
        for key in keys:
            value = detail.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return _text({key: value}, key)
    return ""


def _listed(details: list[dict[str, Any]], key: str) -> list[Any] | None:
    """The items of ``key`` over the detail objects that have it as a list; None when none has it."""
    lists = [detail[key] for detail in details if isinstance(detail.get(key), list)]
    if not lists:
        return None
    items = [item for listed in lists for item in listed]
    if len(items) > MAX_ITEMS:
        raise MalformedNotification(f"the problem's details list more than {MAX_ITEMS} {key}")
    return items


def _tag_text(tag: Any) -> str | None:
    """An ``entityTags`` (v2) or ``tagsOfAffectedEntities`` (v1) item as Dynatrace writes the tag."""
    if not isinstance(tag, dict):
        return None
    shown = tag.get("stringRepresentation")
    if isinstance(shown, str) and shown.strip():
        return shown.strip()
    key = tag.get("key")
    if not isinstance(key, str) or not key.strip():
        return None
    context = tag.get("context")
    prefix = f"[{context}]" if isinstance(context, str) and context and context != "CONTEXTLESS" else ""
    value = tag.get("value")
    return f"{prefix}{key.strip()}" + (f":{value.strip()}" if isinstance(value, str) and value.strip() else "")


def _v2_entities(details: list[dict[str, Any]]) -> tuple[dict[str, str], ...]:
    found = []
    for item in _listed(details, "impactedEntities") or ():
        if not isinstance(item, dict):
            continue
        found_entity = item.get("entityId")
        entity: dict[str, Any] = found_entity if isinstance(found_entity, dict) else {}
        read = {"type": entity.get("type"), "name": item.get("name"), "entity": entity.get("id")}
        found.append({k: str(v) for k, v in read.items() if isinstance(v, str) and v})
    return tuple(found)


def _tags(body: dict[str, Any], details: list[dict[str, Any]]) -> tuple[tuple[str, ...], bool]:
    """The problem's tags, and whether the notification carried tags at all."""
    tags = list(_list(body, "Tags"))
    carried = "Tags" in body
    for key in ("entityTags", "tagsOfAffectedEntities"):
        listed = _listed(details, key)
        if listed is not None:
            carried = True
            tags += [text for text in map(_tag_text, listed) if text]
    return tuple(dict.fromkeys(tags)), carried


def _management_zones(body: dict[str, Any], details: list[dict[str, Any]]) -> tuple[tuple[str, ...], bool]:
    """The problem's management zones, and whether the notification carried them at all."""
    zones = list(_list(body, "ManagementZones"))
    listed = _listed(details, "managementZones")
    if listed is not None:
        zones += [str(z["name"]).strip() for z in listed if isinstance(z, dict) and z.get("name")]
    carried = "ManagementZones" in body or listed is not None
    return tuple(dict.fromkeys(z for z in zones if z)), carried


def _state(text: str) -> str:
    state = text.upper()
    return _STATES.get(state, state)


def read_problem(body: Any) -> Problem:
    """The :class:`Problem` a notification body carries; :class:`MalformedNotification` says what is wrong."""
    if not isinstance(body, dict):
        raise MalformedNotification("the body must be a JSON object (the Dynatrace custom integration's "
                                    "payload template)")
    details = _details(body)
    # Dynatrace's own default payload writes "Problem URL" (with a space) and has no {ProblemSeverity};
    # the problem's details carry the ids, title, severityLevel, impactLevel and status.
    problem_id = (_text(body, "ProblemID", "PID") or _detail(details, "displayId", "displayName", "problemId", "id")
                  or _text(body, "ProblemID", "PID", required=True))
    title = _text(body, "ProblemTitle") or _detail(details, "title") or _text(body, "ProblemTitle", required=True)
    state = _text(body, "State") or _detail(details, "status") or _text(body, "State", required=True)
    severity = _text(body, "ProblemSeverity") or _detail(details, "severityLevel")
    tags, tags_carried = _tags(body, details)
    zones, zones_carried = _management_zones(body, details)
    entities = _entities(body) if body.get("ImpactedEntities") not in (None, "") else _v2_entities(details)
    carried = {SEVERITY} if severity else set()
    carried |= {TAGS} if tags_carried else set()
    carried |= {MANAGEMENT_ZONES} if zones_carried else set()
    return Problem(
        problem_id=problem_id,
        pid=_text(body, "PID") or _detail(details, "problemId", "id") or problem_id,
        title=title,
        state=_state(state),
        severity=severity.upper(),
        impact=(_text(body, "ProblemImpact") or _detail(details, "impactLevel")).upper(),
        url=_text(body, "ProblemURL", "Problem URL"),
        tags=tags,
        entities=entities,
        entity_names=_list(body, "ImpactedEntityNames"),
        management_zones=zones,
        carried=frozenset(carried),
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

