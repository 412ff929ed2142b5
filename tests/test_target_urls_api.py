"""Target URLs through the admin API: a URL that cannot be read, or that reaches a private address
through an IPv6 form, is a 400 naming the field, on create and on update, and nothing changes."""

from __future__ import annotations

import pytest

from gateway.outbound import targets

from .conftest import AUTH, add_integration

TOKEN = "very-secret-token-value-9876"

UNREADABLE = [
    ("https://%5B::1%5D/", "is not a valid URL"),
    ("https://x.invalid:70000/", "port out of range 0-65535"),
    ("https://1.2.3.4:99999", "port out of range 0-65535"),
    ("https://1.2.3.4:0/", "port 0"),
    ("https://[::1/", "invalid IPv6 URL"),
    ("https://a b.example/", "is not a valid URL"),
    ("https://evil.example\\@127.0.0.1/", "backslash"),
]

CARRYING_PRIVATE = [
    ("https://[64:ff9b::7f00:1]/", "NAT64"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64"),
    ("https://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("https://[::ffff:0:7f00:1]/", "IPv4-translated"),
    ("https://[2002:a00:1::1]/", "6to4"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo"),
    ("https://[fe80::1%25eth0]/", "zone id eth0"),
]


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.216.34"])


def _stored(client):
    return client.get("/api/v1/integrations", headers=AUTH).get_json()["items"]


@pytest.mark.parametrize("url, words", UNREADABLE + CARRYING_PRIVATE)
def test_create_answers_400_with_the_field_path(client, url, words):
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": url}})
    assert response.status_code == 400
    assert response.is_json
    errors = response.get_json()["errors"]
    assert list(errors) == ["config.url"]
    assert words in errors["config.url"][0]
    assert _stored(client) == []


@pytest.mark.parametrize("url, words", UNREADABLE + CARRYING_PRIVATE)
def test_update_answers_400_with_the_field_path_and_keeps_the_url(client, public_dns, url, words):
    created = add_integration(client, "recorder", config={"token": TOKEN, "url": "https://tool.example/in"})
    response = client.patch(f"/api/v1/integrations/{created['id']}", headers=AUTH, json={"config": {"url": url}})
    assert response.status_code == 400
    assert response.is_json
    assert words in response.get_json()["errors"]["config.url"][0]
    shown = client.get(f"/api/v1/integrations/{created['id']}", headers=AUTH).get_json()
    assert shown["config"]["url"] == "https://tool.example/in"


@pytest.mark.parametrize("url, words", UNREADABLE)
def test_unreadable_urls_are_refused_even_with_private_targets_allowed(make_app, url, words):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}).test_client()
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": url}})
    assert response.status_code == 400
    assert words in response.get_json()["errors"]["config.url"][0]


@pytest.mark.parametrize("value, accepted", [("1", True), ("true", True), ("yes", True), ("on", True),
                                             ("0", False), ("false", False), ("no", False), ("", False)])
def test_each_spelling_of_the_setting_decides_at_save(make_app, value, accepted):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": value}).test_client()
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "recorder", "name": "x", "config": {"token": TOKEN, "url": "http://127.0.0.1:9/in"}})
    assert response.status_code == (201 if accepted else 400)


@pytest.mark.parametrize("url", ["https://[64:ff9b::808:808]/in", "https://[2002:808:808::1]/in",
                                 "https://[2606:4700::1111]:8443/in", "https://tool.example:65535/in"])
def test_public_forms_and_ports_are_saved(client, public_dns, url):
    created = add_integration(client, "recorder", config={"token": TOKEN, "url": url})
    assert created["config"]["url"] == url
