"""The README's troubleshooting section has an entry for every reason the plugin records."""

from __future__ import annotations

from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

REASON_FRAGMENTS = [
    # webhook refused
    "missing Sentry-Hook-Signature header",
    "Sentry-Hook-Signature does not match the body",
    "missing Sentry-Hook-Resource header",
    "the body is not a JSON object",
    "carries its event in data.error, which is missing",
    "data.error.event_id is missing",
    "has neither datetime nor timestamp",
    "is not an ISO 8601 time",
    # webhook ignored
    "carries no error event (this integration uses error and event_alert)",
    "carries a new error event",
    "acknowledged",
    # skipped
    "the Sentry event has no launchdarklyContext context",
    "the Sentry event's launchdarklyContext cannot be used",
    "not an object",
    "has no key",
    "not a string",
    ".key is empty",
    "which LaunchDarkly does not allow as a context kind",
    "a context kind may only contain letters, digits, '.', '_' and '-'",
    'a multi-kind context cannot contain a context of kind "multi"',
    "not a context object",
    'has kind "multi" but contains no contexts',
    "no environment mapping for Sentry project",
    "add one to environment_mappings",
    # delivery
    "cannot import any more since the config changed",
    "events_url may not be sent to",
    "LaunchDarkly refused the event as invalid",
    "LaunchDarkly refused the access token",
    "may not import events into",
    "LaunchDarkly has no environment",
    "LaunchDarkly did not accept the import request",
    "check events_url",
    "will retry",
    # status
    "counts event key",
    "has no metric with event key",
    "is numeric",
    "cannot check",
    "may not read the metrics of project",
    "LaunchDarkly has no project",
    "try again later",
    "check api_url",
    "cannot reach the LaunchDarkly API",
    "api_url may not be sent to",
    "LaunchDarkly's answer is not JSON",
    "is not a JSON object",
    "has no items list",
    "gave up after reading",
    # create_metric
    "created custom conversion metric",
    "nothing created",
    "create_metric needs ld_project",
    "is not in this integration's environment_mappings",
    "LaunchDarkly refused the metric definition",
    "may not create metrics in project",
    "already has a metric with key",
    "unknown action",
    # batches
    "in a request of",
    # sentry-flags
    "Sentry refused the signature",
    "Sentry has no change-tracking webhook at webhook_url",
    "but did not record the change",
    "Sentry answers a payload it refuses with 200 and the errors",
    "and Sentry's change tracking takes at most 100",
    "the flag's name is",
    "the flag platform's payload has no",
    "check webhook_url",
    "webhook_url may not be sent to",
    "not a flag change",
    "use the generic format",
]


@pytest.mark.parametrize("fragment", REASON_FRAGMENTS)
def test_reason_is_documented(fragment):
    assert fragment in README
