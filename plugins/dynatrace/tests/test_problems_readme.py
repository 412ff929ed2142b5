"""The README's part on dynatrace-problems stays true: its template is read as written, and it explains
every reason the integration records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway_dynatrace.problem_notification import SECRET_HEADER, read_problem

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Dynatrace problems → flag actions", 1)[1].split("\n## ", 1)[0]


def test_the_template_filled_in_as_dynatrace_does_is_read():
    template = re.search(r"```json\n(\{.*?\})\n```", SECTION, re.S).group(1)
    values = {"{ImpactedEntities}": '[{"type": "SERVICE", "name": "checkout", "entity": "SERVICE-1"}]',
              "{ProblemDetailsJSONv2}": '{"problemId": "-1_1V2", "managementZones": [{"id": "1", "name": "Checkout"}], '
                                        '"entityTags": []}',
              "{ProblemID}": "P-230412", "{State}": "OPEN", "{Tags}": "team:checkout, critical"}
    filled = re.sub(r"\{[A-Za-z0-9]+\}", lambda m: values.get(m.group(0), "x"), template)
    problem = read_problem(json.loads(filled))
    assert problem.display_id == "P-230412" and problem.management_zones == ("Checkout",)
    assert problem.tags == ("team:checkout", "critical")
    assert problem.carried == {"severity", "tags", "management_zones"}


def test_the_header_is_the_one_checked():
    assert f"`{SECRET_HEADER}`" in SECTION


@pytest.mark.parametrize("fragment", [
    "Dynatrace test notification: recognised, never acts",
    "no rule matched problem",
    "not on the impacted entities",
    "does not turn flag 'f' back on (set turn_on_when_resolved)",
    "rules act on OPEN and RESOLVED only",
    "cannot be judged: the notification carries no management zones",
    "was merged into another problem (MERGED): recorded, acts on nothing",
    "is not off by this gateway",
    "not for this one: it stays off until that problem is resolved",
    "dry run: rule 'x' would turn flag 'f' off in 'production'",
    "the rules changed since problem",
    "the gateway is not connected to the flag platform",
    "the flag platform refused to turn flag",
    "which is no longer in trigger_urls",
    "will retry",
])
def test_every_reason_is_explained(fragment):
    assert fragment in SECTION
