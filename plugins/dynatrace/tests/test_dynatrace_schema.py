"""The config schema: defaults, URL normalisation and refusal, and every validation error."""

from __future__ import annotations

import socket

import pytest
from marshmallow import ValidationError

from gateway_dynatrace.schema import DynatraceConfigSchema, Settings

TOKEN = "dt0c01.SAMPLETOKENID.SAMPLESECRETPART"
SAAS = "https://abc12345.live.dynatrace.com"


PUBLIC_ADDRESS = "34.120.0.1"
PRIVATE_HOST = "dynatrace.internal.example.com"


@pytest.fixture(autouse=True)
def public_targets_only(monkeypatch):
    """Private targets refused, and host names resolved without the network: to a public address,
    except :data:`PRIVATE_HOST`."""
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)

    def resolve(host, port, *args, **kwargs):
        address = "10.0.0.8" if host == PRIVATE_HOST else PUBLIC_ADDRESS
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def load(**config):
    return DynatraceConfigSchema().load({"api_token": TOKEN, "url": SAAS, **config})


def errors(**config) -> dict:
    with pytest.raises(ValidationError) as caught:
        DynatraceConfigSchema().load(config)
    return caught.value.messages


def test_minimal_config_gets_the_defaults():
    assert load() == {
        "api_token": TOKEN,
        "url": SAAS,
        "entity_type": "APPLICATION",
        "tag": None,
        "api_version": "auto",
        "event_type": "CUSTOM_CONFIGURATION",
    }


def test_a_full_config_is_kept():
    config = load(
        entity_type="SERVICE", tag="team:checkout", api_version="v2", event_type="CUSTOM_DEPLOYMENT"
    )
    assert config["entity_type"] == "SERVICE"
    assert config["tag"] == "team:checkout"
    assert config["event_type"] == "CUSTOM_DEPLOYMENT"


def test_token_and_url_are_required():
    messages = errors()
    assert messages["api_token"] == ["Missing data for required field."]
    assert messages["url"] == ["Missing data for required field."]


@pytest.mark.parametrize("token", ["", "   "])
def test_blank_token_is_refused(token):
    assert errors(api_token=token, url=SAAS)["api_token"] == ["enter the Dynatrace access token"]


@pytest.mark.parametrize("token", [f"Api-Token {TOKEN}", f"{TOKEN}\n", f"{TOKEN[:10]} {TOKEN[10:]}"])
def test_token_with_spaces_or_prefix_is_refused(token):
    [message] = errors(api_token=token, url=SAAS)["api_token"]
    assert "without spaces or an 'Api-Token ' prefix" in message


def test_token_is_never_dumped():
    assert "api_token" not in DynatraceConfigSchema().dump(load())


@pytest.mark.parametrize(
    ("entered", "stored"),
    [
        (SAAS, SAAS),
        (SAAS + "/", SAAS),
        (SAAS + "//", SAAS),
        ("  " + SAAS + "/  ", SAAS),
        ("https://dynatrace.example.com/e/1a2b3c4d", "https://dynatrace.example.com/e/1a2b3c4d"),
        ("https://dynatrace.example.com/e/1a2b3c4d/", "https://dynatrace.example.com/e/1a2b3c4d"),
        ("https://activegate.example.com:9999/e/1a2b3c4d/", "https://activegate.example.com:9999/e/1a2b3c4d"),
    ],
)
def test_url_is_normalised_to_the_base_url(entered, stored):
    assert load(url=entered)["url"] == stored


@pytest.mark.parametrize(
    ("entered", "suggested"),
    [
        (SAAS + "/api", SAAS),
        (SAAS + "/api/", SAAS),
        (SAAS + "/api/v2/events/ingest", SAAS),
        (SAAS + "/API/v1/events", SAAS),
        ("https://dynatrace.example.com/e/1a2b3c4d/api/v2", "https://dynatrace.example.com/e/1a2b3c4d"),
    ],
)
def test_url_into_the_api_is_refused_saying_what_to_enter(entered, suggested):
    [message] = errors(api_token=TOKEN, url=entered)["url"]
    assert message == (
        f"enter the environment's base URL, without /api: here {suggested} (it looks like "
        "https://<env-id>.live.dynatrace.com (SaaS) or https://<host>/e/<env-id> (Managed or ActiveGate); "
        "the gateway adds /api/v2/events/ingest or /api/v1/events itself)"
    )


def test_url_with_a_path_merely_containing_api_is_accepted():
    assert (
        load(url="https://dynatrace.example.com/e/apiary")["url"] == "https://dynatrace.example.com/e/apiary"
    )


@pytest.mark.parametrize("url", [SAAS + "/?x=1", SAAS + "#top"])
def test_url_with_query_or_fragment_is_refused(url):
    [message] = errors(api_token=TOKEN, url=url)["url"]
    assert message.startswith("enter the environment's base URL without ?query or #fragment")


def test_platform_ui_url_is_refused_with_the_api_address():
    [message] = errors(api_token=TOKEN, url="https://abc12345.apps.dynatrace.com/")["url"]
    assert "abc12345.apps.dynatrace.com is the Dynatrace platform web UI" in message
    assert message.endswith("enter https://abc12345.live.dynatrace.com")


@pytest.mark.parametrize(
    "url", ["abc12345.live.dynatrace.com", "ftp://abc12345.live.dynatrace.com", "not a url"]
)
def test_url_must_be_absolute_http(url):
    assert errors(api_token=TOKEN, url=url)["url"]


def test_plain_http_is_refused_by_default():
    [message] = errors(api_token=TOKEN, url="http://abc12345.live.dynatrace.com")["url"]
    assert "uses plain http://" in message
    assert "GATEWAY_ALLOW_PRIVATE_TARGETS=1" in message


@pytest.mark.parametrize("url", ["https://10.1.2.3/e/1a2b3c4d", f"https://{PRIVATE_HOST}/e/1a2b3c4d"])
def test_private_address_is_refused_by_default(url):
    [message] = errors(api_token=TOKEN, url=url)["url"]
    assert "private, loopback or link-local" in message


def test_local_fake_dynatrace_is_allowed_when_private_targets_are(monkeypatch):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    assert load(url="http://127.0.0.1:8765/")["url"] == "http://127.0.0.1:8765"
    assert load(url="http://127.0.0.1:8765/e/test-env")["url"] == "http://127.0.0.1:8765/e/test-env"


def test_unknown_entity_type_is_refused():
    [message] = errors(api_token=TOKEN, url=SAAS, entity_type="application")["entity_type"]
    assert message.startswith(
        "application is not a monitored entity type the integration offers; use one of APPLICATION, "
    )
    assert "PROCESS_GROUP_INSTANCE" in message


@pytest.mark.parametrize(("field", "value"), [("api_version", "v3"), ("event_type", "ERROR_EVENT")])
def test_values_outside_the_offered_ones_are_refused(field, value):
    assert errors(api_token=TOKEN, url=SAAS, **{field: value})[field]


def test_v1_sends_configuration_events_only():
    assert load(api_version="v1")["event_type"] == "CUSTOM_CONFIGURATION"
    [message] = errors(api_token=TOKEN, url=SAAS, api_version="v1", event_type="CUSTOM_INFO")["event_type"]
    assert (
        message == "api_version v1 sends CUSTOM_CONFIGURATION events only; use api_version v2 for CUSTOM_INFO"
    )


@pytest.mark.parametrize(
    ("entered", "stored"), [("", None), ("   ", None), (None, None), ("  release  ", "release")]
)
def test_tag_is_trimmed_and_blank_means_none(entered, stored):
    assert load(tag=entered)["tag"] == stored


@pytest.mark.parametrize(
    ("tag", "what"), [("a\nb", "U+000A"), ("tab\there", "U+0009"), ("x\u2028y", "U+2028")]
)
def test_tag_with_a_control_character_is_refused(tag, what):
    [message] = errors(api_token=TOKEN, url=SAAS, tag=tag)["tag"]
    assert what in message
    assert message.endswith("which a Dynatrace tag cannot hold")


def test_tag_too_long_for_the_selector_is_refused_unless_v1():
    long_tag = "t" * 1990
    for version in ("v2", "auto"):
        [message] = errors(api_token=TOKEN, url=SAAS, tag=long_tag, api_version=version)["tag"]
        assert message == ("the tag is too long: the entity selector of Events API v2 would exceed the 2,000 "
                           "characters Dynatrace accepts; shorten it, or set api_version v1")
    assert load(tag=long_tag, api_version="v1")["tag"] == long_tag


def test_unknown_fields_are_refused():
    assert errors(api_token=TOKEN, url=SAAS, token=TOKEN)["token"] == ["Unknown field."]


def test_settings_read_a_loaded_config():
    settings = Settings.from_config(load(tag="release", api_version="v1"))
    assert settings == Settings(api_token=TOKEN, url=SAAS, tag="release", api_version="v1")


def test_settings_fill_defaults_for_a_minimal_config():
    settings = Settings.from_config({"api_token": TOKEN, "url": SAAS + "/", "tag": "  "})
    assert settings == Settings(
        api_token=TOKEN,
        url=SAAS,
        entity_type="APPLICATION",
        tag=None,
        api_version="auto",
        event_type="CUSTOM_CONFIGURATION",
    )


def test_partial_load_checks_what_is_given():
    schema = DynatraceConfigSchema()
    assert schema.load({"tag": " release "}, partial=True) == {"tag": "release"}
    assert schema.load({"api_version": "v1"}, partial=True) == {"api_version": "v1"}
    with pytest.raises(ValidationError) as caught:
        schema.load({"api_version": "v1", "event_type": "CUSTOM_INFO"}, partial=True)
    assert "event_type" in caught.value.messages
