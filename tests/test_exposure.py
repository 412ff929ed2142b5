"""What reaches whom: no config values in unauthenticated answers (issue 9, item 6), the unsigned
webhook warning and GATEWAY_REQUIRE_SIGNED_WEBHOOKS (item 8), file modes (item 9), strict query
parameters (item 11) and the public URL (item 12)."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from marshmallow import Schema

from gateway import IntegrationType, Received, TargetURL, hookimpl
from gateway.settings import SettingError
from gateway.signatures import hmac_sha256_hex
from gateway.host.state import get_state

from .conftest import AUTH, add_integration, fixture_bytes
from .test_intake import stored_counts

INTERNAL = "http://10.20.30.40:8443/internal-relay"


class RelayConfig(Schema):
    url = TargetURL(required=True)


class Relay:
    """Receives webhooks and sends them on to a URL of its config."""

    @hookimpl
    def integration_type(self):
        return IntegrationType(key="relay", name="Relay", description="relays", config_schema=RelayConfig,
                               default_policy=[], sources=())

    @hookimpl
    def receive_webhook(self, request):
        return Received(message="ok")

    @hookimpl
    def deliver_event(self, event):
        return None


# -- item 6 -------------------------------------------------------------------------------------

def test_unauthenticated_webhook_answer_holds_no_config_value(make_app, tmp_path, caplog):
    instance = tmp_path / "shared-instance"
    before = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=(("relay", Relay()),), instance=instance)
    relay = add_integration(before.test_client(), "relay", config={"url": INTERNAL})
    get_state(before).db.dispose()

    after = make_app({}, plugins=(("relay", Relay()),), instance=instance)  # private targets no longer allowed
    client = after.test_client()
    with caplog.at_level(logging.ERROR):
        response = client.post(f"/webhooks/integrations/{relay['id']}", json={"ping": 1})
    assert response.status_code == 503 and response.is_json
    text = response.get_data(as_text=True)
    assert "10.20.30.40" not in text and "internal-relay" not in text and "config.url" not in text
    assert "10.20.30.40" in caplog.text  # the detail went to the log ...
    status = client.get(f"/api/v1/integrations/{relay['id']}/status", headers=AUTH)
    assert status.status_code == 409 and "config.url" in status.get_json()["error"]  # ... and to the admin API


# -- item 8 -------------------------------------------------------------------------------------

def test_without_a_signing_secret_the_gateway_warns(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        app = make_app()
    assert "GATEWAY_LAUNCHDARKLY_SECRET is not set" in caplog.text
    health = app.test_client().get("/healthz").get_json()
    assert health["status"] == "ok"
    assert any("GATEWAY_LAUNCHDARKLY_SECRET is not set" in w and "GATEWAY_REQUIRE_SIGNED_WEBHOOKS" in w
               for w in health["warnings"])


def test_with_a_signing_secret_there_is_no_warning(make_app):
    app = make_app({"GATEWAY_LAUNCHDARKLY_SECRET": "ld-signing-secret-0123456789"})
    assert app.test_client().get("/healthz").get_json()["warnings"] == []


@pytest.mark.parametrize("secret, reason", [("s" * 32, "one kind of character"), ("short-1", "at least 16")])
def test_a_weak_signing_secret_is_warned_about(make_app, secret, reason):
    app = make_app({"GATEWAY_LAUNCHDARKLY_SECRET": secret})
    [warning] = app.test_client().get("/healthz").get_json()["warnings"]
    assert warning.startswith("GATEWAY_LAUNCHDARKLY_SECRET") and reason in warning and secret not in warning


def test_require_signed_webhooks_refuses_unsigned_ones(make_app):
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    app = make_app({"GATEWAY_REQUIRE_SIGNED_WEBHOOKS": "1"})
    response = app.test_client().post("/webhooks/launchdarkly", data=body, content_type="application/json")
    assert response.status_code == 401 and "GATEWAY_REQUIRE_SIGNED_WEBHOOKS" in response.get_json()["error"]
    assert stored_counts(app) == (0, 0)
    assert any("refused" in w for w in app.test_client().get("/healthz").get_json()["warnings"])

    signed = make_app({"GATEWAY_REQUIRE_SIGNED_WEBHOOKS": "1", "GATEWAY_LAUNCHDARKLY_SECRET": "s" * 32})
    client = signed.test_client()
    assert client.post("/webhooks/launchdarkly", data=body, content_type="application/json").status_code == 401
    response = client.post("/webhooks/launchdarkly", data=body, content_type="application/json",
                           headers={"X-LD-Signature": hmac_sha256_hex("s" * 32, body)})
    assert response.status_code == 202


# -- item 9 -------------------------------------------------------------------------------------

def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _sqlite_in(instance) -> dict[str, str]:
    """The default SQLite database of the instance folder, also on a PostgreSQL run: these files are
    what the tests look at."""
    return {"GATEWAY_DATABASE_URL": f"sqlite:///{instance / 'gateway.db'}"}


def test_instance_folder_and_database_files_are_private(make_app, tmp_path):
    old_umask = os.umask(0o022)
    try:
        instance = tmp_path / "new-instance"
        app = make_app({"GATEWAY_ADMIN_TOKEN": "", **_sqlite_in(instance)}, instance=instance)
        get_state(app).integrations.create({"plugin": "picky", "name": "p", "config": {"wanted_tag": "x"}})  # a write
    finally:
        os.umask(old_umask)
    assert _mode(instance) == 0o700
    files = sorted(os.listdir(instance))
    assert {"gateway.db", "gateway.db-wal", "gateway.db-shm", "secret.key", "admin-token.sha256"} <= set(files)
    assert {name: _mode(instance / name) for name in files} == {name: 0o600 for name in files}


def test_database_files_readable_by_others_are_narrowed(make_app, tmp_path):
    instance = tmp_path / "old-instance"
    instance.mkdir()
    (instance / "gateway.db").touch()
    os.chmod(instance / "gateway.db", 0o644)
    make_app(_sqlite_in(instance), instance=instance)
    assert _mode(instance / "gateway.db") == 0o600


# -- item 11 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", ["+5", "5_0", "\uff15", "\u0665", " 5", "5 ", "0x5", "5.0", "-1", "", "1e1"])
def test_limit_takes_plain_digits_only(client, limit):
    for path in ("/api/v1/events", "/api/v1/deliveries"):
        response = client.get(path, query_string={"limit": limit}, headers=AUTH)
        assert response.status_code == 400 and "limit" in response.get_json()["error"], (path, limit)


@pytest.mark.parametrize("since", ["nan", "NaN", "inf", "-Infinity", "1e999", "1_000", "+5", "\u0661\u0662", ""])
def test_since_takes_finite_times_only(client, since):
    response = client.get("/api/v1/deliveries", query_string={"since": since}, headers=AUTH)
    assert response.status_code == 400 and "since" in response.get_json()["error"], since


def test_replay_since_takes_finite_times_only(client):
    recorder = add_integration(client, "picky", config={"wanted_tag": "x"})
    for since in ["nan", "inf", "1_0", 10 ** 40]:
        response = client.post(f"/api/v1/integrations/{recorder['id']}/replay", json={"since": since}, headers=AUTH)
        assert response.status_code == 400, since


def test_good_query_parameters_still_work(client):
    assert client.get("/api/v1/events?limit=5", headers=AUTH).status_code == 200
    for since in ("0", "1714564800.5", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+02:00"):
        assert client.get("/api/v1/deliveries", query_string={"since": since, "limit": "200"}, headers=AUTH).status_code == 200


# -- item 12 ------------------------------------------------------------------------------------

def test_webhook_url_never_echoes_the_host_header(client):
    inbox = add_integration(client, "inbox", config={"signing_secret": "inbox-secret-0123456789"})
    shown = client.get(f"/api/v1/integrations/{inbox['id']}", headers={**AUTH, "Host": "evil.example"}).get_json()
    assert shown["webhook_url"] == f"/webhooks/integrations/{inbox['id']}"


def test_webhook_url_is_built_from_the_public_url(make_app):
    client = make_app({"GATEWAY_PUBLIC_URL": "https://gateway.example.com/events/"}).test_client()
    inbox = add_integration(client, "inbox", config={"signing_secret": "inbox-secret-0123456789"})
    shown = client.get(f"/api/v1/integrations/{inbox['id']}", headers={**AUTH, "Host": "evil.example"}).get_json()
    assert shown["webhook_url"] == f"https://gateway.example.com/events/webhooks/integrations/{inbox['id']}"


@pytest.mark.parametrize("value", ["gateway.example.com", "ftp://x.example", "https://", "https://x.example/?a=1",
                                   "https://x.example:99999", "https://x.example:0", "https://x.example:\u0668\u0660",
                                   "https://x.example:65536"])
def test_a_bad_public_url_is_refused_at_start(make_app, value):
    with pytest.raises(SettingError, match="GATEWAY_PUBLIC_URL"):
        make_app({"GATEWAY_PUBLIC_URL": value})
