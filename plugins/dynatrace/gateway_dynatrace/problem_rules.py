"""The rules of the ``dynatrace-problems`` integration: which problems match, and which flag action follows.

Rules are tried in order and the **first** rule that matches a problem decides; the others are not
looked at. A rule matches when every criterion it sets matches (an unset criterion matches anything):

- ``severities``: the problem's ``{ProblemSeverity}`` is one of them;
- ``title_pattern``: the problem's title matches it — a glob (``*`` and ``?``, case-insensitive,
  the whole title) or, with ``title_pattern_syntax: regex``, a regular expression searched in the title;
- ``tags``: every listed tag is on the impacted entities (``{Tags}``): ``key:value`` needs that key
  with that value, ``key`` that key with any value or none (a ``[Context]`` prefix is ignored);
- ``management_zones``: the problem is in at least one of them.

A criterion on a field the notification did not carry at all (no severity, no tags, no management
zones: see :data:`~.problem_notification.FILTERED_FIELDS`) cannot be judged. When every criterion the
notification does carry matches, such a rule **stops the evaluation**: no later rule acts, and the
decision names the missing field and the placeholder that brings it. (A later, broader rule acting
on a problem the intended rule could not judge is how the wrong flag would be turned off.)

An ``OPEN`` problem that matches turns the rule's flag off; a ``RESOLVED`` one turns it back on
when the rule says ``turn_on_when_resolved``. Every other state acts on nothing.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from gateway import compile_regex

from .problem_notification import FILTERED_FIELDS, MANAGEMENT_ZONES, SEVERITY, TAGS, Problem

OPEN = "OPEN"
RESOLVED = "RESOLVED"
SEVERITIES = ("AVAILABILITY", "ERROR", "PERFORMANCE", "RESOURCE_CONTENTION", "CUSTOM_ALERT",
              "MONITORING_UNAVAILABLE", "INFO")
GLOB = "glob"
REGEX = "regex"


@dataclass(frozen=True)
class Action:
    """What a matching rule does for one notification."""

    rule: str
    project_key: str
    environment_key: str
    flag_key: str
    on: bool
    trigger: str | None

    @property
    def direction(self) -> str:
        return "on" if self.on else "off"

    @property
    def resource(self) -> str:
        return f"proj/{self.project_key}:env/{self.environment_key}:flag/{self.flag_key}"

    def describe(self) -> str:
        """``turn flag 'checkout-v2' off in 'production' (project 'shop')``."""
        return (f"turn flag '{self.flag_key}' {self.direction} in '{self.environment_key}' "
                f"(project '{self.project_key}')")

    def to_data(self) -> dict[str, Any]:
        return {"rule": self.rule, "project_key": self.project_key, "environment_key": self.environment_key,
                "flag_key": self.flag_key, "on": self.on, "trigger": self.trigger}


def action_from_data(data: dict[str, Any]) -> Action:
    return Action(data["rule"], data["project_key"], data["environment_key"], data["flag_key"],
                  bool(data["on"]), data.get("trigger"))


def compile_title_pattern(pattern: str, syntax: str) -> Any:
    """The title pattern as a regular expression; ``re.error`` when a regex does not compile. A regex
    runs on the gateway's linear-time engine (RE2: no backreferences or lookaround)."""
    if syntax == REGEX:
        return compile_regex(pattern)
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


def _tag_parts(tag: str) -> tuple[str, str | None]:
    tag = re.sub(r"^\[[^\]]*\]", "", tag.strip())
    key, sep, value = tag.partition(":")
    return key.strip(), (value.strip() if sep else None)


def missing_tags(wanted: list[str], present: tuple[str, ...]) -> list[str]:
    """The tags of ``wanted`` the problem's tags do not satisfy."""
    have = [_tag_parts(tag) for tag in present]
    missing = []
    for tag in wanted:
        key, value = _tag_parts(tag)
        if not any(k == key and (value is None or v == value) for k, v in have):
            missing.append(tag)
    return missing


def fields_used(rule: dict[str, Any]) -> set[str]:
    """The fields of :data:`~.problem_notification.FILTERED_FIELDS` ``rule`` filters on."""
    used = {SEVERITY} if rule["severities"] else set()
    used |= {TAGS} if rule["tags"] else set()
    used |= {MANAGEMENT_ZONES} if rule["management_zones"] else set()
    return used


def mismatch(rule: dict[str, Any], problem: Problem) -> str | None:
    """Why ``rule`` does not match ``problem`` (short), or None when every criterion on a field the
    notification carried matches."""
    if rule["severities"] and SEVERITY in problem.carried and problem.severity not in rule["severities"]:
        return f"severity {problem.severity or 'none'} not in {', '.join(rule['severities'])}"
    if rule.get("title_pattern"):
        pattern = compile_title_pattern(rule["title_pattern"], rule["title_pattern_syntax"])
        matched = pattern.search(problem.title) if rule["title_pattern_syntax"] == REGEX else pattern.match(problem.title)
        if not matched:
            return f"title does not match {rule['title_pattern_syntax']} {rule['title_pattern']!r}"
    missing = missing_tags(rule["tags"], problem.tags) if TAGS in problem.carried else []
    if missing:
        return f"tag{'s' if len(missing) > 1 else ''} {', '.join(missing)} not on the impacted entities"
    zones = rule["management_zones"]
    if zones and MANAGEMENT_ZONES in problem.carried and not set(zones) & set(problem.management_zones):
        return f"not in management zone {' or '.join(zones)}"
    return None


@dataclass(frozen=True)
class Match:
    """The rule that decides (or None), why each rule before it did not, and the rule that could not
    be judged (``unjudged``, with the fields the notification lacked) when that stopped the evaluation."""

    rule: dict[str, Any] | None
    reasons: tuple[str, ...]
    unjudged: dict[str, Any] | None = None
    lacking: tuple[str, ...] = ()

    def explain(self) -> str:
        return "; ".join(self.reasons)

    def unjudged_reason(self) -> str:
        """Which rule could not be judged, for want of what, and which placeholder to add."""
        what = " or ".join(FILTERED_FIELDS[name][0] for name in self.lacking)
        add = ", ".join(FILTERED_FIELDS[name][1] for name in self.lacking)
        before = f" (before it: {self.explain()})" if self.reasons else ""
        name = self.unjudged["name"] if self.unjudged is not None else "?"
        return (f"rule '{name}' cannot be judged: the notification carries no {what}, which the "
                f"rule filters on; no later rule acts. Add {add} to the Dynatrace payload template{before}")


def first_match(rules: list[dict[str, Any]], problem: Problem) -> Match:
    """The first rule matching ``problem``, and why each rule before it did not; evaluation stops at a
    rule that cannot be judged (see the module's doc)."""
    reasons: list[str] = []
    for rule in rules:
        why = mismatch(rule, problem)
        if why is not None:
            reasons.append(f"rule '{rule['name']}': {why}")
            continue
        lacking = tuple(name for name in FILTERED_FIELDS if name in fields_used(rule) - problem.carried)
        if lacking:
            return Match(None, tuple(reasons), rule, lacking)
        return Match(rule, tuple(reasons))
    return Match(None, tuple(reasons))


def action_for(rule: dict[str, Any], problem: Problem) -> Action | None:
    """The flag action ``rule`` takes for ``problem``'s state, or None when it takes none."""
    if problem.state == OPEN:
        return Action(rule["name"], rule["project_key"], rule["environment_key"], rule["flag_key"], False,
                      rule.get("trigger"))
    if problem.state == RESOLVED and rule["turn_on_when_resolved"]:
        return Action(rule["name"], rule["project_key"], rule["environment_key"], rule["flag_key"], True,
                      rule.get("resolve_trigger"))
    return None


def comment_for(problem: Problem, action: Action) -> str:
    """The comment the flag change carries: which problem caused it, and through which rule."""
    return (f"Flag Event Gateway: Dynatrace problem {problem.display_id} '{problem.title}' ({problem.state}) "
            f"matched rule '{action.rule}'")


# trigger URLs ---------------------------------------------------------------------------------------

class TriggerError(ValueError):
    """``trigger_urls`` cannot be read."""


def parse_triggers(text: str | None) -> dict[str, str]:
    """``trigger_urls`` (``name=URL`` entries separated by spaces or new lines) as name -> URL."""
    triggers: dict[str, str] = {}
    for number, entry in enumerate((text or "").split(), 1):
        name, sep, url = entry.partition("=")
        if not sep or not name or not url:
            raise TriggerError(f"entry {number} is not name=URL (the entry is not shown: it may be a credential)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise TriggerError(f"the name of entry {number} may use letters, digits, '.', '_' and '-' only "
                               "(write name=URL)")
        if name in triggers:
            raise TriggerError(f"trigger name {name!r} is given twice")
        triggers[name] = url
    return triggers

