"""The dynatrace-problems config: defaults, and each bad value refused with a message naming its field."""

from __future__ import annotations

import pytest
from gateway.testing import InvalidConfig, PluginHarness

from gateway_dynatrace import problems_plugin
from problem_helpers import SECRET, TRIGGER_URL

RULE = {"name": "checkout errors", "project_key": "shop", "environment_key": "production",
        "flag_key": "new-checkout-flow"}


@pytest.fixture(scope="module")
def harness():
    with PluginHarness(problems_plugin, name="dynatrace-problems") as h:
        yield h


def errors(harness, config):
    with pytest.raises(InvalidConfig) as refused:
        harness.configure(config)
    return refused.value.errors


def test_defaults(harness):
    harness.configure({"shared_secret": SECRET, "rules": [RULE]})
    loaded = harness.config
    assert loaded["dry_run"] is False and loaded["cooldown_seconds"] == 600 and loaded["trigger_urls"] is None
    [rule] = loaded["rules"]
    assert rule["severities"] == [] and rule["tags"] == [] and rule["title_pattern_syntax"] == "glob"
    assert rule["turn_on_when_resolved"] is False and rule["trigger"] is None


@pytest.mark.parametrize("change, field, message", [
    ({"rules": []}, "config.rules", "Length must be between 1 and 100"),
    ({"shared_secret": "short"}, "config.shared_secret", "Length must be between 16 and 256"),
    ({"cooldown_seconds": -1}, "config.cooldown_seconds", "greater than or equal to 0"),
    ({"rules": [{**RULE, "severities": ["SEVERE"]}]}, "config.rules.0.severities.0", "Must be one of"),
    ({"rules": [{**RULE, "title_pattern": "(unclosed", "title_pattern_syntax": "regex"}]},
     "config.rules.0.title_pattern", "not a valid regular expression"),
    ({"rules": [{**RULE, "title_pattern_syntax": "sql"}]}, "config.rules.0.title_pattern_syntax", "Must be one of"),
    ({"rules": [{**RULE, "flag_key": "bad key"}]}, "config.rules.0.flag_key", "a key"),
    ({"rules": [{**RULE, "project_key": ""}]}, "config.rules.0.project_key", "Length"),
    ({"rules": [RULE, RULE]}, "config.rules", "given more than once: checkout errors"),
    ({"rules": [{**RULE, "trigger": "off"}]}, "config.rules.0.trigger", "no trigger named 'off'"),
    ({"rules": [{**RULE, "resolve_trigger": "on"}]}, "config.rules.0.resolve_trigger", "turn_on_when_resolved"),
    ({"trigger_urls": "off"}, "config.trigger_urls", "entry 1 is not name=URL"),
    ({"trigger_urls": f"off={TRIGGER_URL} off={TRIGGER_URL}"}, "config.trigger_urls", "given twice"),
    ({"trigger_urls": "off=ftp://example.com/x"}, "config.trigger_urls", "trigger 'off'"),
])
def test_bad_values_are_refused_by_field(harness, change, field, message):
    found = errors(harness, {"shared_secret": SECRET, "rules": [RULE], **change})
    assert field in found, found
    assert any(message in text for text in found[field]), found[field]


def test_a_trigger_url_never_appears_in_an_error(harness):
    found = errors(harness, {"shared_secret": SECRET, "rules": [RULE], "trigger_urls": TRIGGER_URL})
    assert TRIGGER_URL not in str(found) and "webhook/triggers" not in str(found)


def test_triggers_are_named_and_kept(harness):
    harness.configure({"shared_secret": SECRET, "trigger_urls": f"off={TRIGGER_URL}  on={TRIGGER_URL}x",
                       "rules": [{**RULE, "trigger": "off", "turn_on_when_resolved": True, "resolve_trigger": "on"}]})
    assert harness.config["trigger_urls"] == f"off={TRIGGER_URL} on={TRIGGER_URL}x"
