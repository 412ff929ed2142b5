"""Sentry-Hook-Signature: HMAC-SHA256 of the raw body with the client secret, else 401."""

from __future__ import annotations

import json

import gateway
import pytest

from gateway_sentry import plugin
from sentry_helpers import INTEGRATION, fixture_bytes, signed_request

BODY = fixture_bytes("error-created-with-ld-context.json")


def test_valid_signature_is_accepted(config):
    received = plugin.receive_webhook(signed_request(BODY, "error"), config, INTEGRATION)
    assert len(received.events) == 1


def test_signature_header_is_found_whatever_its_case(config):
    request = signed_request(BODY, "error", sign=False)
    headers = dict(
        request.headers, **{"sentry-hook-signature": gateway.hmac_sha256_hex(config["client_secret"], BODY)}
    )
    request = gateway.InboundRequest("POST", request.path, headers, BODY, "application/json")
    assert len(plugin.receive_webhook(request, config, INTEGRATION).events) == 1


def test_wrong_secret_is_refused(config):
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(signed_request(BODY, "error", secret="another-secret"), config, INTEGRATION)
    assert refused.value.status == 401
    assert "client_secret" in refused.value.message


def test_missing_signature_is_refused(config):
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(signed_request(BODY, "error", sign=False), config, INTEGRATION)
    assert refused.value.status == 401
    assert "missing Sentry-Hook-Signature" in refused.value.message


def test_signature_over_re_serialised_body_is_refused(config):
    """Sentry signs its compact bytes; the same JSON written differently does not match."""
    reserialised = json.dumps(json.loads(BODY), indent=2).encode()
    signature_of_original = gateway.hmac_sha256_hex(config["client_secret"], BODY)
    request = signed_request(reserialised, "error", signature=signature_of_original)
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(request, config, INTEGRATION)
    assert refused.value.status == 401


def test_signature_is_checked_before_the_body_is_read(config):
    """An unsigned malformed body gets 401, not a 400 that would describe the parser."""
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(signed_request(b"{not json", "error", sign=False), config, INTEGRATION)
    assert refused.value.status == 401
