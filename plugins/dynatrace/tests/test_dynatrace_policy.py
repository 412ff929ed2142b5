"""The policy hook: which events the integration takes, and why it skips the others."""

from __future__ import annotations

import dataclasses

import pytest
from gateway.testing import make_delivery_ref, make_integration_ref
from gateway import Failed, Skip, Take

from gateway_dynatrace import plugin


def check(event, config):
    return plugin.check_event(event=event, config=config, integration=make_integration_ref(plugin="dynatrace"))


def test_staging_flag_change_with_a_tag_is_taken(staging_event, config):
    # The integration's policy (production only by default) is the core's business, not the hook's.
    assert check(staging_event, config) == Take()


def test_production_flag_change_with_two_tags_is_taken(production_event, config):
    assert check(production_event, config) == Take()


def test_tags_from_the_v2_custom_property_are_enough(with_tags, config):
    assert check(with_tags("checkout-service", key="dynatrace-v2"), config) == Take()


def test_flag_without_tags_is_skipped_saying_how_to_fix_it(untagged_event, config):
    verdict = check(untagged_event, config)
    assert isinstance(verdict, Skip)
    assert verdict.reason.startswith('no Dynatrace tag: the flag has no "Dynatrace tags" custom property')
    assert "set the integration's tag" in verdict.reason


def test_flag_without_tags_is_taken_when_the_integration_has_a_tag(untagged_event, config):
    assert check(untagged_event, {**config, "tag": "release"}) == Take()


def test_a_blank_integration_tag_counts_as_none(untagged_event, config):
    assert isinstance(check(untagged_event, {**config, "tag": "  "}), Skip)


def test_other_kinds_are_skipped(environment_event, config):
    assert check(environment_event, {**config, "tag": "release"}) == Skip(
        "Dynatrace gets flag changes only, and this event's kind is environment"
    )


def test_a_bad_tag_is_skipped_naming_it(with_tags, config):
    verdict = check(with_tags("checkout-service", "web\tfrontend"), config)
    assert verdict == Skip(
        "the Dynatrace tag 'web\\tfrontend' from the flag's custom property \"dynatrace\" contains the "
        "control character U+0009, which a Dynatrace tag cannot hold; correct or remove it"
    )


def test_a_bad_integration_tag_is_skipped_naming_it(staging_event, config):
    verdict = check(staging_event, {**config, "tag": "rel\x1bease"})
    assert isinstance(verdict, Skip)
    assert verdict.reason.startswith("the Dynatrace tag 'rel\\x1bease' from the integration's tag contains")


def test_tags_too_long_for_the_selector_are_skipped_on_v2_only(with_tags, config, v1_config):
    event = with_tags(*(f"tag-{n:03d}-" + "x" * 40 for n in range(60)))
    verdict = check(event, config)
    assert isinstance(verdict, Skip)
    assert verdict.reason.startswith("the 60 Dynatrace tags make an entity selector of")
    assert check(event, v1_config) == Take()


def test_a_title_over_the_request_limit_is_taken_and_then_fails_unsent(production_event, config, http, requests_mock):
    # The policy hook checks tags and the selector only (it runs while the webhook waits); the
    # request's size is checked when the delivery is built, before anything is sent.
    event = dataclasses.replace(production_event, title="t" * 1_100_000)
    assert check(event, config) == Take()
    result = plugin.deliver_event(event=event, config=config, http=http, delivery=make_delivery_ref())
    assert isinstance(result, Failed)
    assert "Dynatrace accepts in one request" in result.reason
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("kind", ["project", "segment", "member"])
def test_any_non_flag_kind_is_skipped_before_looking_at_tags(production_event, config, kind):
    verdict = check(dataclasses.replace(production_event, kind=kind), config)
    assert verdict == Skip(f"Dynatrace gets flag changes only, and this event's kind is {kind}")
