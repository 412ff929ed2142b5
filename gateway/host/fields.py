"""marshmallow fields for plugin config schemas: secrets, outbound target URLs, and URLs that are secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from marshmallow import ValidationError, fields

from gateway.redaction import masked_url, redact
from gateway.secret_rules import MASK_MESSAGE, looks_masked, weakness
from gateway.outbound.targets import TargetNotAllowed, check_target_url


class Secret(fields.String):
    """A secret string: write-only (``load_only``), encrypted at rest, shown masked (``****abcd``),
    never logged. Declare every credential of a config schema with it.

    A value that looks like the mask (``****``, ``****abcd``) is refused. ``min_length``: for a
    secret that guards a door (one that checks what comes in, such as a webhook signing secret),
    also refuse values shorter than that, blank, or of one kind of character (only lower-case
    letters, only digits...), with the reason. Both rules apply to values given to the gateway,
    not to those it stored before (read again with :func:`stored_values`)."""

    def __init__(self, *, min_length: int | None = None, **kwargs: Any):
        kwargs.setdefault("load_only", True)
        metadata = dict(kwargs.pop("metadata", None) or {})
        metadata["secret"] = True
        if min_length is not None:
            metadata.setdefault("minLength", min_length)
        self.min_length = min_length
        super().__init__(metadata=metadata, **kwargs)

    def _validate(self, value: Any) -> None:
        errors: list[Any] = []
        try:
            super()._validate(value)  # the field's own validators first
        except ValidationError as exc:
            errors.extend(exc.messages if isinstance(exc.messages, list) else [exc.messages])
        if _checking_input.get() and isinstance(value, str):
            if looks_masked(value):
                errors.append(MASK_MESSAGE)
            elif self.min_length is not None:
                why = weakness(value, self.min_length)
                if why:
                    errors.append(f"this secret {why}")
        if errors:
            raise ValidationError(errors)


def is_secret(field: fields.Field) -> bool:
    """Whether a schema field holds a secret."""
    return isinstance(field, Secret) or bool(field.metadata.get("secret"))


class TargetURL(fields.Url):
    """An absolute http(s) URL the gateway will send to. Refuses plain ``http://`` and private,
    loopback and link-local addresses unless ``GATEWAY_ALLOW_PRIVATE_TARGETS=1``, and a URL whose
    host or port cannot be read always (docs/security.md)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("schemes", {"http", "https"})
        kwargs.setdefault("require_tld", False)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        url = super()._deserialize(value, attr, data, **kwargs)
        try:
            check_target_url(url, resolve_host=_resolve_names.get())
        except TargetNotAllowed as exc:
            raise ValidationError(str(exc)) from None
        return url


class SecretURL(TargetURL, Secret):
    """A URL that is itself a credential (a chat webhook URL, a DSN carrying a key): checked as a
    :class:`TargetURL` and kept as a :class:`Secret` — write-only, encrypted at rest, shown masked
    (``****abcd``), and removed from every recorded request, answer and error. It is loaded in the
    form the HTTP client sends it (as ``requests`` quotes it), so that the URL sent is the secret
    the records are cleaned of. A refusal shows it as ``scheme://host[:port]/[redacted]``."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            url = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            if not isinstance(value, str):
                raise
            raise ValidationError([_hide_url(str(m), value) for m in _messages(exc)]) from None
        return requests.Request("GET", url).prepare().url


def _messages(exc: ValidationError) -> list:
    return exc.messages if isinstance(exc.messages, list) else [exc.messages]


def _hide_url(message: str, url: str) -> str:
    """``message`` with the secret URL ``url`` shown masked, and no part of it left."""
    return redact(message.replace(url, masked_url(url)).replace(url.strip(), masked_url(url)), [url, url.strip()])


_resolve_names: ContextVar[bool] = ContextVar("resolve_target_names", default=True)
_checking_input: ContextVar[bool] = ContextVar("checking_secret_input", default=True)


@contextmanager
def stored_values() -> Iterator[None]:
    """Read a config the gateway stored (accepted once): target names are not resolved (see
    :func:`target_names_unresolved`), and the rules for new secrets (no mask, ``min_length``) are
    not applied again, so a secret stored before a rule existed still loads."""
    token = _checking_input.set(False)
    try:
        with target_names_unresolved():
            yield
    finally:
        _checking_input.reset(token)


@contextmanager
def target_names_unresolved() -> Iterator[None]:
    """Check :class:`TargetURL` values without resolving host names (scheme and IP literals are still
    checked): for configs already accepted once, read again to be used. The resolved check is made
    again before every request, so nothing is lost, and reading a thousand integrations does not
    wait for a thousand DNS answers."""
    token = _resolve_names.set(False)
    try:
        yield
    finally:
        _resolve_names.reset(token)
