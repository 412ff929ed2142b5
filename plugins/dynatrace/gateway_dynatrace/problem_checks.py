"""The ``dynatrace-problems`` integration's status check: do the notifications carry what its rules use?

A rule that filters on a field a notification does not carry (a severity, entity tags, management
zones) cannot be judged, and stops the evaluation (:mod:`.problem_rules`). The receive hook remembers,
per integration, which of those fields each of the last :data:`KEPT` notifications carried (test
notifications aside); the ``notifications`` check is ``warning`` while any of them lacked a field the
rules use, naming the rules and the placeholder to add.

The memory is kept in the process that received the notifications, and starts empty when it starts:
in a server of several processes, a check sees what the process that runs it received.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from gateway import StatusCheck

from .problem_notification import FILTERED_FIELDS, Problem
from .problem_rules import fields_used

KEPT = 20
"""How many recent notifications are remembered per integration."""
NOTIFICATIONS = "notifications"

_recent: dict[str, deque[frozenset[str]]] = {}
_lock = threading.Lock()


def remember(integration_id: str, problem: Problem) -> None:
    """Note which filtered fields ``problem``'s notification carried (test notifications are not noted)."""
    if problem.is_test:
        return
    with _lock:
        _recent.setdefault(integration_id, deque(maxlen=KEPT)).append(problem.carried)


def recent(integration_id: str) -> list[frozenset[str]]:
    """What the last notifications of the integration carried, oldest first."""
    with _lock:
        return list(_recent.get(integration_id, ()))


def forget(integration_id: str) -> None:
    with _lock:
        _recent.pop(integration_id, None)


def notifications_check(config: dict[str, Any], integration_id: str) -> StatusCheck:
    """``warning`` while recent notifications lack a field the rules filter on; else ``ok``."""
    seen = recent(integration_id)
    if not seen:
        return StatusCheck(NOTIFICATIONS, "ok", "no problem notification received yet (test notifications aside, "
                                                "since the gateway started)")
    lacking = []
    for name, (what, placeholder) in FILTERED_FIELDS.items():
        rules = [rule["name"] for rule in config["rules"] if name in fields_used(rule)]
        without = sum(1 for carried in seen if name not in carried)
        if rules and without:
            lacking.append(f"{without} of the last {len(seen)} notifications carried no {what}, which rule"
                           f"{'s' if len(rules) > 1 else ''} {', '.join(repr(r) for r in rules)} filter"
                           f"{'' if len(rules) > 1 else 's'} on: add {placeholder} to the Dynatrace payload "
                           "template")
    if lacking:
        return StatusCheck(NOTIFICATIONS, "warning",
                           "; ".join(lacking) + ". Until then such a rule cannot be judged and no rule after it acts")
    return StatusCheck(NOTIFICATIONS, "ok", f"the last {len(seen)} notifications carried every field the rules "
                                            "filter on")
