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


# Known answer, computed outside the gateway:
#   openssl dgst -sha256 -hmac sentry-client-secret-7f3a sentry/error-created-with-ld-context.json
KNOWN_SIGNATURE = "a7318528d2ba4034e0a9cd30301222d821890bf1ccf9cdcb5671a0075f154d4b"


def test_known_answer_signature_is_accepted(config):
    assert config["client_secret"] == "sentry-client-secret-7f3a"
    received = plugin.receive_webhook(signed_request(BODY, "error", signature=KNOWN_SIGNATURE), config, INTEGRATION)
    assert len(received.events) == 1


@pytest.mark.parametrize("signature", [
    KNOWN_SIGNATURE.upper(),
    "a7318528d2ba4034e0a9cd30301222d821890bf1ccf9cdcb5671a0075f154d4c",  # last digit changed
    "fcb410c71c52bd9f9a3aeb1f051781372978f698",  # the body's HMAC-SHA1 (openssl dgst -sha1 -hmac ...)
    "092195b09a6dc4ca74bf3f2f71a297b8c332d61d6f3abdb19a52eb6f2b540c2b"  # the body's HMAC-SHA512
    "1297b189001c49b02957b2dfdedc2019909d91590e5b9a890f7d0cf7fb9bbdca",
])
def test_near_known_answer_signatures_are_refused(config, signature):
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(signed_request(BODY, "error", signature=signature), config, INTEGRATION)
    assert refused.value.status == 401


def test_without_a_client_secret_every_webhook_is_refused(config):
    with pytest.raises(gateway.Rejected) as refused:
        plugin.receive_webhook(signed_request(BODY, "error"), {**config, "client_secret": None}, INTEGRATION)
    assert refused.value.status == 401 and "client_secret is not set" in refused.value.message
