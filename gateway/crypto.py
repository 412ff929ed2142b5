"""Encryption of secret config fields at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


class SecretBoxError(RuntimeError):
    """Stored secrets cannot be read with the configured key."""


def _fernet_key(material: str) -> bytes:
    """A Fernet key from ``GATEWAY_SECRET_KEY``: used as is when it is one, else derived with SHA-256."""
    try:
        if len(base64.urlsafe_b64decode(material.encode())) == 32:
            return material.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def write_private_file(path: str, data: bytes) -> None:
    """Create ``path`` with mode 0600 (fails if it exists, so two processes never overwrite each other)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_or_create_key(instance_path: str) -> bytes:
    """The key file of the instance folder, generated (mode 0600) on first use."""
    path = os.path.join(instance_path, KEY_FILE)
    try:
        write_private_file(path, Fernet.generate_key())
    except FileExistsError:
        pass
    with open(path, "rb") as handle:
        return handle.read().strip()


class SecretBox:
    """Encrypts and decrypts the secret fields of an integration's config as one JSON document."""

    def __init__(self, key_material: str | None, instance_path: str):
        self.key = _fernet_key(key_material) if key_material else load_or_create_key(instance_path)
        self._fernet = Fernet(self.key)

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def derive_key(self, purpose: str) -> bytes:
        """A key for another use (``purpose`` names it), derived from this key with HMAC-SHA256:
        it changes when this key does, and does not give this key away."""
        return hmac.new(self.key, purpose.encode(), hashlib.sha256).digest()

    def open(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretBoxError(
                "stored secrets cannot be decrypted: GATEWAY_SECRET_KEY (or the instance key file) changed"
            ) from None


    def can_open(self, token: str) -> bool:
        """Whether this key opens ``token`` (sealed by :meth:`seal`)."""
        try:
            self._fernet.decrypt(token.encode())
        except InvalidToken:
            return False
        return True


def mask(value: str) -> str:
    """How a secret is shown: ``****`` and, for values long enough not to give much away, the last 4."""
    return "****" + value[-4:] if len(value) >= 12 else "****"


def is_mask(value: Any) -> bool:
    """Whether ``value`` is a mask as :func:`mask` writes it (an update sending it back keeps the secret)."""
    return isinstance(value, str) and value.startswith("****") and len(value) <= 8
