"""HMAC signatures of webhook bodies, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_hmac_sha256(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the lowercase hex HMAC-SHA256 of the raw ``body`` bytes."""
    if not signature:
        return False
    expected = hmac_sha256_hex(secret, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))
