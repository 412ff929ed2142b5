"""The dynatrace-problems shared secret guards the webhook: a weak one (blank, of one kind of
character, or the API's mask) is refused with the reason."""

from __future__ import annotations

import pytest
from gateway.testing import InvalidConfig, PluginHarness

from gateway_dynatrace import problems_plugin
from problem_helpers import SECRET

RULE = {"name": "checkout errors", "project_key": "shop", "environment_key": "production",
        "flag_key": "new-checkout-flow"}


@pytest.fixture(scope="module")
def harness():
    with PluginHarness(problems_plugin, name="dynatrace-problems") as h:
        yield h


@pytest.mark.parametrize("secret, reason", [
    (" " * 16, "blank"),
    ("x" * 40, "one kind of character"),
    ("1234567890123456", "one kind of character"),
    ("****", "masked secret"),
])
def test_a_weak_shared_secret_is_refused_with_the_reason(harness, secret, reason):
    with pytest.raises(InvalidConfig) as refused:
        harness.configure({"shared_secret": secret, "rules": [RULE]})
    messages = refused.value.errors["config.shared_secret"]
    assert any(reason in text for text in messages), messages


def test_a_random_shared_secret_passes(harness):
    harness.configure({"shared_secret": SECRET, "rules": [RULE]})
    harness.configure({"shared_secret": "c2f0e4b7a9d1c2f0e4b7a9d1", "rules": [RULE]})
