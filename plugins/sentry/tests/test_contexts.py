"""LaunchDarkly contexts attached to Sentry events: single and multi-kind, and what is refused."""

from __future__ import annotations

import pytest

from gateway_sentry.contexts import ContextError, MissingContext, context_keys


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        ({"kind": "user", "key": "user-8271", "name": "Sandy"}, {"user": "user-8271"}),
        ({"key": "user-8271"}, {"user": "user-8271"}),
        ({"kind": None, "key": "user-8271"}, {"user": "user-8271"}),
        ({"kind": "org.team_2-x", "key": "t-1"}, {"org.team_2-x": "t-1"}),
        ({"kind": "device", "key": "d-1", "type": "default"}, {"device": "d-1"}),
        (
            {
                "kind": "multi",
                "user": {"key": "user-8271"},
                "organization": {"key": "org-acme", "name": "Acme"},
            },
            {"user": "user-8271", "organization": "org-acme"},
        ),
        ({"kind": "multi", "user": {"key": "u"}}, {"user": "u"}),
        ({"kind": "multi", "user": {"key": "u"}, "type": "default"}, {"user": "u"}),
    ],
    ids=[
        "user",
        "kind-defaults-to-user",
        "null-kind-is-user",
        "kind-with-allowed-punctuation",
        "sentry-type-key-ignored",
        "multi",
        "multi-with-one-kind",
        "multi-ignores-sentry-type-key",
    ],
)
def test_usable_contexts(raw, keys):
    assert context_keys(raw) == keys


def test_keys_keep_their_order():
    raw = {"kind": "multi", "org": {"key": "o"}, "user": {"key": "u"}, "device": {"key": "d"}}
    assert list(context_keys(raw)) == ["org", "user", "device"]


def test_no_context():
    with pytest.raises(MissingContext, match=r"^the Sentry event has no launchdarklyContext context$"):
        context_keys(None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("user-8271", "launchdarklyContext is a string, not an object"),
        ({"kind": "user"}, "launchdarklyContext has no key"),
        ({"kind": "user", "key": None}, "launchdarklyContext has no key"),
        ({"kind": "user", "key": 8271}, "launchdarklyContext.key is a number, not a string"),
        ({"kind": "user", "key": ""}, "launchdarklyContext.key is empty"),
        ({"kind": 3, "key": "k"}, "launchdarklyContext.kind is a number, not a string"),
        ({"kind": "kind", "key": "k"}, 'launchdarklyContext.kind is "kind"'),
        ({"kind": "my user", "key": "k"}, "may only contain letters, digits"),
        ({"kind": "", "key": "k"}, "may only contain letters, digits"),
        ({"kind": "üser", "key": "k"}, "may only contain letters, digits"),
        ({"kind": "multi"}, 'has kind "multi" but contains no contexts'),
        ({"kind": "multi", "type": "default"}, 'has kind "multi" but contains no contexts'),
        ({"kind": "multi", "multi": {"key": "k"}}, 'cannot contain a context of kind "multi"'),
        ({"kind": "multi", "user": "u"}, "launchdarklyContext.user is a string, not a context object"),
        ({"kind": "multi", "user": {"name": "Sandy"}}, "launchdarklyContext.user has no key"),
        ({"kind": "multi", "user": {"key": ["u"]}}, "launchdarklyContext.user.key is a list, not a string"),
        ({"kind": "multi", "a/b": {"key": "k"}}, "the kind name of launchdarklyContext.a/b is 'a/b'"),
    ],
)
def test_unusable_contexts_say_what_is_wrong(raw, message):
    with pytest.raises(ContextError) as error:
        context_keys(raw)
    assert not isinstance(error.value, MissingContext)
    assert message in str(error.value)
