"""The package as the gateway sees it: entry point, hook signatures, declaration, JSON Schema."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from pathlib import Path

import gateway
import gateway.host.hookspecs
import pluggy
import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

import gateway_dynatrace
from gateway_dynatrace import plugin
from gateway_dynatrace.schema import ENTITY_TYPES, DynatraceConfigSchema


def test_plugin_is_installed():
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="event_gateway")}
    assert "dynatrace" in entry_points
    assert entry_points["dynatrace"].load() is plugin
    assert importlib.metadata.distribution("event-gateway-dynatrace").requires[0] == "event-gateway"


def test_hooks_match_the_gateway_hook_specifications(production_event, config, integration):
    manager = pluggy.PluginManager(gateway.PROJECT_NAME)
    manager.add_hookspecs(gateway.host.hookspecs)
    manager.register(plugin, name="dynatrace")
    manager.check_pending()

    assert manager.hook.integration_type()[0].key == "dynatrace"
    assert manager.hook.check_event(event=production_event, config=config, integration=integration) == [
        gateway.Take()
    ]
    sample = manager.hook.test_event(config=config, integration=integration)[0]
    assert sample.title.startswith("[Test]")


def test_plugin_imports_only_the_public_gateway_api():
    sources = sorted(Path(gateway_dynatrace.__file__).parent.glob("*.py"))
    assert len(sources) > 5
    for source in sources:
        for line in source.read_text().splitlines():
            if re.match(r"(from|import) gateway\b", line):
                assert line.startswith("from gateway import"), f"{source.name}: {line}"


def test_integration_type_declares_key_schema_and_default_policy():
    declared = plugin.integration_type()
    assert declared.key == "dynatrace"
    assert declared.name == "Dynatrace"
    assert declared.config_schema is DynatraceConfigSchema
    assert declared.default_policy == [
        {"effect": "allow", "resources": ["proj/*:env/production:flag/*"], "actions": ["*"]}
    ]
    assert declared.sources == ("launchdarkly",)


def test_each_declaration_has_its_own_default_policy():
    first = plugin.integration_type()
    first.default_policy[0]["resources"].append("proj/*:env/staging:flag/*")
    assert plugin.integration_type().default_policy[0]["resources"] == ["proj/*:env/production:flag/*"]


def test_every_config_field_is_described_in_the_json_schema():
    spec = APISpec(title="gateway", version="1", openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.schema("Dynatrace", schema=DynatraceConfigSchema)
    properties = spec.to_dict()["components"]["schemas"]["Dynatrace"]["properties"]

    assert set(properties) == {"api_token", "url", "entity_type", "tag", "api_version", "event_type"}
    for name, prop in properties.items():
        assert prop.get("description"), name
    assert properties["api_token"]["writeOnly"] is True
    assert properties["entity_type"]["enum"] == list(ENTITY_TYPES)
    assert properties["entity_type"]["default"] == "APPLICATION"
    assert properties["api_version"]["enum"] == ["auto", "v2", "v1"]
    assert properties["event_type"]["enum"] == [
        "CUSTOM_CONFIGURATION",
        "CUSTOM_DEPLOYMENT",
        "CUSTOM_INFO",
        "CUSTOM_ANNOTATION",
    ]


def test_the_token_is_a_secret():
    assert isinstance(DynatraceConfigSchema().fields["api_token"], gateway.Secret)


@pytest.mark.parametrize(
    "entity_type",
    ["APPLICATION", "SERVICE", "PROCESS_GROUP_INSTANCE", "PROCESS_GROUP", "HOST", "KUBERNETES_CLUSTER"],
)
def test_entity_types_include_the_common_ones(entity_type):
    assert entity_type in ENTITY_TYPES


def test_entity_types_are_the_hosted_integrations_list():
    assert len(ENTITY_TYPES) == 88
    assert len(set(ENTITY_TYPES)) == len(ENTITY_TYPES)
    assert list(ENTITY_TYPES) == sorted(ENTITY_TYPES)


def test_fixture_events_match_the_core_normalizer(flag_event_builders):
    launchdarkly = pytest.importorskip("gateway.host.builtin.launchdarkly")
    compared = [
        f.name for f in dataclasses.fields(gateway.Event) if f.name not in ("scope_tags", "scope_attributes")
    ]
    for name, build in flag_event_builders.items():
        normalized = launchdarkly.normalize_audit_entry(build().raw)
        built = build()
        for field in compared:
            assert getattr(built, field) == getattr(normalized, field), (name, field)
