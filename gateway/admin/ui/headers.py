"""The security headers of every UI answer: a Content-Security-Policy that allows scripts, styles
and images from this site only (no inline script), no framing, no referrer beyond this site, no
caching of pages (they show configuration)."""

from __future__ import annotations

from flask import Response

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])


def apply(response: Response, *, static: bool = False) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not static:
        response.headers["Cache-Control"] = "no-store"
