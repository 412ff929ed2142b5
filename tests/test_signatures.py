"""Known-answer vectors for the webhook signatures. Every expected value below was computed once,
outside the gateway, with ``openssl dgst -sha256 -hmac SECRET`` over the exact bytes, and is written
out here: a change of digest, of key handling or of hex case fails these tests."""

from __future__ import annotations

import pytest

from gateway import hmac_sha256_hex, verify_hmac_sha256

from .conftest import fixture_bytes
from .test_intake import stored_counts

# RFC 4231, test case 2: printf '%s' 'what do ya want for nothing?' | openssl dgst -sha256 -hmac Jefe
RFC4231_KEY = "Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_MAC = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

VECTORS = [
    ("Jefe", b"what do ya want for nothing?", RFC4231_MAC),
    ("key", b"", "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"),
    ("key", b"The quick brown fox jumps over the lazy dog",
     "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"),
    (bytes.fromhex("00ff10"), b'{"_id":"kat-ld-0001","kind":"flag"}',
     "def4cb448d321871d1a5ff9066f3e65e5c42d4d161e0e306fbfd51b491f4e440"),
    ("ld-kat-secret", b'{"_id":"kat-ld-0001","kind":"flag"}',
     "87be8ef9b0552ab61c65039674afd5ebd5933345b0b5572af17359ee79757934"),
]

# openssl dgst -sha256 -hmac ld-signing-secret-for-tests launchdarkly/flag-turned-on-production.json
LD_SECRET = "ld-signing-secret-for-tests"
LD_FIXTURE = "launchdarkly/flag-turned-on-production.json"
LD_SIGNATURE = "3e1621b9adf680dbbf35446280053f61cc200f6f69fb18b5b9fbde2a72c371bd"


@pytest.mark.parametrize("secret, body, mac", VECTORS)
def test_known_answers(secret, body, mac):
    assert hmac_sha256_hex(secret, body) == mac
    assert verify_hmac_sha256(secret, body, mac)


@pytest.mark.parametrize("secret, body, mac", VECTORS)
def test_a_changed_body_or_secret_does_not_verify(secret, body, mac):
    assert not verify_hmac_sha256(secret, body + b" ", mac)
    assert not verify_hmac_sha256((secret + "x") if isinstance(secret, str) else secret + b"x", body, mac)


def test_the_signature_is_lowercase_hex_and_only_that():
    assert not verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, RFC4231_MAC.upper())
    assert not verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, "sha256=" + RFC4231_MAC)
    assert not verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, RFC4231_MAC[:-1])
    assert not verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, RFC4231_MAC + "0")


def test_surrounding_whitespace_is_ignored():
    assert verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, f"  {RFC4231_MAC}\t")


@pytest.mark.parametrize("signature", [None, "", "é" * 64, "\ud800"])
def test_a_missing_or_unreadable_signature_does_not_verify(signature):
    assert verify_hmac_sha256(RFC4231_KEY, RFC4231_DATA, signature) is False


def test_ld_fixture_vector():
    assert hmac_sha256_hex(LD_SECRET, fixture_bytes(LD_FIXTURE)) == LD_SIGNATURE


@pytest.mark.parametrize("signature, status, stored", [
    (LD_SIGNATURE, 202, 1),
    (LD_SIGNATURE.upper(), 401, 0),
    ("3e1621b9adf680dbbf35446280053f61cc200f6f69fb18b5b9fbde2a72c371bc", 401, 0),  # last digit changed
])
def test_x_ld_signature_known_answer_through_the_webhook(make_app, signature, status, stored):
    app = make_app({"GATEWAY_LAUNCHDARKLY_SECRET": LD_SECRET})
    response = app.test_client().post("/webhooks/launchdarkly", data=fixture_bytes(LD_FIXTURE),
                                      headers={"X-LD-Signature": signature, "Content-Type": "application/json"})
    assert response.status_code == status, response.get_json()
    assert stored_counts(app)[0] == stored
