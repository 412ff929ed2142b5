"""Removing an integration's secrets from what the gateway records: URLs, answer excerpts, errors
and reasons.

A target may echo a secret back in another form than it was sent, so each secret is looked for
as it is, in any letter case (``TOKEN`` for ``token``; ``%2f`` for ``%2F``), URL-encoded (``quote``,
``quote_plus``), escaped inside a JSON string, and base64-encoded at any alignment (standard or
URL-safe alphabet, with or without padding). The last covers HTTP Basic credentials
(``Basic base64(user:secret)``) and any base64 blob that carries the secret: the whole base64 run
holding it is replaced, so no neighbouring character gives a bit of it away.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
_MARKER = "REDACTEDc0ffee"
MIN_SECRET_CHARS = 4  # shorter values would remove ordinary words
MIN_BASE64_CHARS = 5  # a shorter base64 piece would match by chance
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_URLSAFE = str.maketrans("+/", "-_")


def text_forms(secret: str) -> set[str]:
    """``secret`` as text may carry it: as is, URL-encoded, and escaped inside a JSON string."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def base64_cores(secret: str) -> set[str]:
    """The base64 characters that depend only on ``secret``, for each of the three positions it
    may take in an encoded byte stream (standard and URL-safe alphabets)."""
    raw = secret.encode("utf-8")
    cores = set()
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        core = encoded[skip: (8 * (shift + len(raw))) // 6]
        if len(core) >= MIN_BASE64_CHARS:
            cores.update({core, core.translate(_URLSAFE)})
    return cores


@lru_cache(maxsize=256)
def _patterns(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, frozenset[str]]:
    forms = {form for s in secrets for form in text_forms(s)}
    ordered = sorted(forms, key=len, reverse=True)  # the longest form first: none left half-removed
    text = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None
    return text, frozenset(core for s in secrets for core in base64_cores(s))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``[redacted]``, in every form it may take there."""
    wanted = tuple(sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}))
    if not wanted or not text:
        return text
    pattern, cores = _patterns(wanted)
    if cores:
        text = _BASE64_RUN.sub(lambda m: REDACTED if any(c in m.group() for c in cores) else m.group(), text)
    return pattern.sub(REDACTED, text) if pattern else text


def clean_url(url: str, secrets: Iterable[str]) -> str:
    """The URL for the log: user info dropped, secret values removed from path and query, an IPv6
    literal kept in brackets."""
    secrets = list(secrets)
    # First as sent: a URL that is itself a secret (SecretURL) matches only before its query is
    # re-encoded; the marker is one that re-encoding leaves as it is.
    url = redact(url, secrets).replace(REDACTED, _MARKER)
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")), secrets).replace(_MARKER, REDACTED)
