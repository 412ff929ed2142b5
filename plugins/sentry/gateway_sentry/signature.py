"""Verifying that a webhook comes from the configured Sentry integration."""

from __future__ import annotations

import gateway

SIGNATURE_HEADER = "Sentry-Hook-Signature"


NO_SECRET = ("client_secret is not set: copy the Client Secret from the Sentry integration's Credentials "
             "into this integration; until then every webhook is refused")


def verify_signature(request: gateway.InboundRequest, client_secret: str | None) -> None:
    """Check ``Sentry-Hook-Signature``: the hex HMAC-SHA256 of the raw body keyed with the
    integration's client secret, compared in constant time. Raises :class:`gateway.Rejected` (401)
    when it is missing or does not match, and when no client secret is set yet."""
    if not client_secret:
        raise gateway.Rejected(401, NO_SECRET)
    signature = request.header(SIGNATURE_HEADER)
    if not signature:
        raise gateway.Rejected(
            401, f"missing {SIGNATURE_HEADER} header: only Sentry integration webhooks are accepted here"
        )
    if not gateway.verify_hmac_sha256(client_secret, request.body, signature):
        raise gateway.Rejected(
            401,
            f"{SIGNATURE_HEADER} does not match the body: check that client_secret is the client "
            "secret of the Sentry integration that sends to this URL",
        )
