"""The config schema: defaults, secrets, target URLs and environment mappings."""

from __future__ import annotations

from typing import Any

import gateway
import pytest
from marshmallow import ValidationError

from gateway_sentry.schema import SentryConfigSchema
from sentry_helpers import ACCESS_TOKEN, CLIENT_SECRET


def mapping(
    project: Any = "checkout",
    environment: str = "production",
    ld_project: str = "shop",
    ld_environment: str = "production",
) -> dict[str, Any]:
    return {
        "sentry_project": project,
        "sentry_environment": environment,
        "ld_project": ld_project,
        "ld_environment": ld_environment,
    }


def load(**fields: Any) -> dict[str, Any]:
    raw = {"client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN, "environment_mappings": [mapping()]}
    raw.update(fields)
    return SentryConfigSchema().load(raw)


def errors(**fields: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as error:
        load(**fields)
    return error.value.messages


def test_defaults():
    config = load()
    assert config["event_key"] == "sentry-errors"
    assert config["events_url"] == "https://events.launchdarkly.com"
    assert config["api_url"] == "https://app.launchdarkly.com"


def test_a_loaded_config_loads_again_unchanged():
    """The core stores the loaded config and loads it again whenever it is used."""
    config = load(
        environment_mappings=[mapping(4504123456789012), mapping(" Storefront ")],
        events_url="https://events.eu.launchdarkly.com/",
    )
    assert SentryConfigSchema().load(config) == config


def test_every_field_is_described():
    for schema in (SentryConfigSchema(), SentryConfigSchema().fields["environment_mappings"].inner.schema):
        for name, field in schema.fields.items():
            assert field.metadata.get("description"), name


def test_credentials_are_secrets():
    fields = SentryConfigSchema().fields
    assert isinstance(fields["client_secret"], gateway.Secret)
    assert isinstance(fields["access_token"], gateway.Secret)
    dumped = SentryConfigSchema().dump(load())
    assert "client_secret" not in dumped and "access_token" not in dumped


@pytest.mark.parametrize("name", ["access_token", "environment_mappings"])
def test_required_fields(name):
    raw = {"client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN, "environment_mappings": [mapping()]}
    del raw[name]
    with pytest.raises(ValidationError) as error:
        SentryConfigSchema().load(raw)
    assert name in error.value.messages


def test_the_client_secret_may_come_later():
    raw = {"access_token": ACCESS_TOKEN, "environment_mappings": [mapping()]}
    assert SentryConfigSchema().load(raw)["client_secret"] is None


def test_at_least_one_mapping():
    assert errors(environment_mappings=[]) == {
        "environment_mappings": ["map at least one Sentry project and environment"]
    }


@pytest.mark.parametrize("event_key", ["", " sentry-errors", "sentry-errors "])
def test_event_key_must_be_trimmed_text(event_key):
    assert "event_key" in errors(event_key=event_key)


def test_urls_lose_trailing_slashes():
    config = load(
        events_url="https://events.eu.launchdarkly.com/", api_url="https://app.eu.launchdarkly.com//"
    )
    assert config["events_url"] == "https://events.eu.launchdarkly.com"
    assert config["api_url"] == "https://app.eu.launchdarkly.com"


class TestPrivateTargets:
    def test_refused_by_default(self, monkeypatch):
        monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
        messages = errors(events_url="http://127.0.0.1:8080", api_url="https://10.0.0.5")
        assert "plain http://" in messages["events_url"][0]
        assert "private" in messages["api_url"][0]

    def test_allowed_by_the_setting(self, monkeypatch):
        monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
        config = load(events_url="http://127.0.0.1:8080/", api_url="http://localhost:9000")
        assert config["events_url"] == "http://127.0.0.1:8080"
        assert config["api_url"] == "http://localhost:9000"


class TestMappings:
    def test_project_by_id_or_slug(self):
        config = load(
            environment_mappings=[mapping(4504123456789012), mapping("  CheckOut "), mapping("99", "staging")]
        )
        assert [m["sentry_project"] for m in config["environment_mappings"]] == [
            "4504123456789012",
            "checkout",
            "99",
        ]

    @pytest.mark.parametrize("project", [True, 0, -3, 1.5, "", "check out", "acme/checkout", None])
    def test_bad_project(self, project):
        messages = errors(environment_mappings=[mapping(project)])
        assert "sentry_project" in messages["environment_mappings"][0]

    @pytest.mark.parametrize("environment", ["", "None", "prod env", "eu/prod", "line\nbreak", "x" * 65])
    def test_bad_sentry_environment(self, environment):
        messages = errors(environment_mappings=[mapping(environment=environment)])
        assert "sentry_environment" in messages["environment_mappings"][0]

    @pytest.mark.parametrize("field", ["ld_project", "ld_environment"])
    @pytest.mark.parametrize("value", ["", "my project", "shop/../admin", "shop?x=1"])
    def test_bad_launchdarkly_keys(self, field, value):
        entry = mapping()
        entry[field] = value
        messages = errors(environment_mappings=[entry])
        assert field in messages["environment_mappings"][0]

    def test_several_sentry_environments_may_share_a_launchdarkly_environment(self):
        config = load(
            environment_mappings=[
                mapping("checkout", "production"),
                mapping("storefront", "production"),
                mapping("checkout", "prod-eu"),
            ]
        )
        assert len(config["environment_mappings"]) == 3

    def test_one_sentry_environment_may_not_go_to_two(self):
        messages = errors(
            environment_mappings=[
                mapping("checkout", "production", "shop", "production"),
                mapping("storefront", "production"),
                mapping("Checkout", "production", "shop", "canary"),
            ]
        )
        assert list(messages) == ["environment_mappings"]
        assert list(messages["environment_mappings"]) == [2]
        [message] = messages["environment_mappings"][2]
        assert (
            "Sentry project checkout, environment production is already mapped by row 1 of the environment mappings"
            in message
        )

    def test_the_same_environment_in_two_projects_is_not_a_duplicate(self):
        config = load(
            environment_mappings=[mapping("checkout", "production"), mapping("checkout", "Production")]
        )
        assert len(config["environment_mappings"]) == 2


@pytest.mark.parametrize("secret, reason", [
    (" ", "at least 16 characters"),
    (" " * 64, "blank"),
    ("a" * 64, "one kind of character"),
    ("****abcd", "masked secret"),
])
def test_a_weak_or_masked_client_secret_is_refused_with_the_reason(secret, reason):
    found = errors(client_secret=secret)
    assert any(reason in text for text in found["client_secret"]), found


def test_a_real_client_secret_passes():
    # Sentry makes a client secret of 32 random bytes in hex: 64 characters, digits and a-f
    real = "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"
    assert load(client_secret=real)["client_secret"] == real
