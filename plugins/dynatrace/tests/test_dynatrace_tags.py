"""Which tags an event carries, which are refused, and how v1 reads them."""

from __future__ import annotations

import dataclasses

import pytest
from gateway import CustomProperty

from gateway_dynatrace.tags import Tag, TagError, deliverable_tags, event_tags, tag_problem, tag_rule_tag


def test_tags_come_from_the_custom_properties_then_the_integration(production_event):
    event = dataclasses.replace(
        production_event,
        custom_properties={
            "dynatrace": CustomProperty("Dynatrace tags", ("checkout-service", " web-frontend ")),
            "dynatrace-v2": CustomProperty("Dynatrace tags (V2 API)", ("web-frontend", "payments")),
            "jira": CustomProperty("Jira", ("CHK-1",)),
        },
    )
    assert event_tags(event, "release") == [
        Tag("checkout-service", 'the flag\'s custom property "dynatrace"'),
        Tag("web-frontend", 'the flag\'s custom property "dynatrace"'),
        Tag("payments", 'the flag\'s custom property "dynatrace-v2"'),
        Tag("release", "the integration's tag"),
    ]


def test_the_integration_tag_is_not_repeated(staging_event):
    assert deliverable_tags(staging_event, "checkout-service") == ["checkout-service"]


def test_the_integration_tag_alone_is_enough(untagged_event):
    assert deliverable_tags(untagged_event, "release") == ["release"]


def test_no_tag_at_all_says_how_to_fix_it(untagged_event):
    with pytest.raises(TagError) as caught:
        deliverable_tags(untagged_event, None)
    message = str(caught.value)
    assert message.startswith("no Dynatrace tag:")
    assert "Add the custom property to the flag in LaunchDarkly" in message
    assert '"Dynatrace tags" custom property (key dynatrace)' in message
    assert "set the integration's tag" in message


def test_an_empty_value_is_refused_naming_where_it_came_from(with_tags):
    with pytest.raises(TagError) as caught:
        deliverable_tags(with_tags("checkout-service", "  "), None)
    assert str(caught.value) == (
        "the Dynatrace tag '' from the flag's custom property \"dynatrace\" is empty, which a Dynatrace "
        "tag cannot hold; correct or remove it"
    )


def test_a_control_character_is_refused_naming_the_tag(with_tags):
    with pytest.raises(TagError) as caught:
        deliverable_tags(with_tags("checkout\nservice", key="dynatrace-v2"), None)
    assert str(caught.value) == (
        "the Dynatrace tag 'checkout\\nservice' from the flag's custom property \"dynatrace-v2\" contains "
        "the control character U+000A, which a Dynatrace tag cannot hold; correct or remove it"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        (" \t", "is empty"),
        ("a\x00b", "contains the control character U+0000"),
        ("a\x7fb", "contains the control character U+007F"),
        ("a\u2029b", "contains the paragraph separator U+2029"),
        ("a\ud800b", "contains the unpaired surrogate U+D800"),
        ("checkout-service", None),
        ('odd "quoted" ~tag~', None),
        ("[Kubernetes]app:checkout", None),
        ("Zürich 😀", None),
    ],
)
def test_tag_problem(text, problem):
    assert tag_problem(text) == problem


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("checkout-service", {"context": "CONTEXTLESS", "key": "checkout-service"}),
        ("team:checkout", {"context": "CONTEXTLESS", "key": "team", "value": "checkout"}),
        ("url:https://shop", {"context": "CONTEXTLESS", "key": "url", "value": "https://shop"}),
        ("team:", {"context": "CONTEXTLESS", "key": "team", "value": ""}),
        ("[Environment]env:prod", {"context": "ENVIRONMENT", "key": "env", "value": "prod"}),
        ("[AWS]Name", {"context": "AWS", "key": "Name"}),
        ("[CloudFoundry]space:shop", {"context": "CLOUD_FOUNDRY", "key": "space", "value": "shop"}),
        ("[GoogleCloud]zone:eu", {"context": "GOOGLE_CLOUD", "key": "zone", "value": "eu"}),
        ("[AWS_GENERIC]team", {"context": "AWS_GENERIC", "key": "team"}),
        ("[Kubernetes]app:checkout", {"context": "KUBERNETES", "key": "app", "value": "checkout"}),
        ("[Azure]rg:shop", {"context": "AZURE", "key": "rg", "value": "shop"}),
        ("[Contextless]team", {"context": "CONTEXTLESS", "key": "team"}),
        ("ratio\\:1", {"context": "CONTEXTLESS", "key": "ratio:1"}),
        ("a\\:b:c\\:d", {"context": "CONTEXTLESS", "key": "a:b", "value": "c:d"}),
        (":odd", {"context": "CONTEXTLESS", "key": ":odd"}),
        ("[Environment]", {"context": "CONTEXTLESS", "key": "[Environment]"}),
    ],
)
def test_tag_rule_tag_reads_context_key_and_value(text, rule):
    assert tag_rule_tag(text) == rule


@pytest.mark.parametrize("text", ["[OpenShift]app:shop", "[Environment2]env:prod", "[Cloud]x"])
def test_tag_rule_tag_refuses_a_context_v1_does_not_take(text):
    with pytest.raises(TagError) as caught:
        tag_rule_tag(text)
    assert str(caught.value).startswith(f"the Dynatrace tag {text!r} has the context [")
    assert ("it takes CONTEXTLESS, AWS, AWS_GENERIC, AZURE, CLOUD_FOUNDRY, ENVIRONMENT, GOOGLE_CLOUD, "
            "KUBERNETES") in str(caught.value)
