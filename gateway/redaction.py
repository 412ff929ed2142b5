"""Removing an integration's secrets from what the gateway records: URLs, answer excerpts, errors
and reasons.

A target may echo a secret back in another form than it was sent, so each secret is looked for
as it is, in any letter case (``TOKEN`` for ``token``; ``%2f`` for ``%2F``), URL-encoded (``quote``,
``quote_plus``), escaped inside a JSON string, and base64-encoded at any alignment (standard or
URL-safe alphabet, with or without padding). The last covers HTTP Basic credentials
(``Basic base64(user:secret)``) and any base64 blob that carries the secret: the whole base64 run
holding it is replaced, so no neighbouring character gives a bit of it away.

A secret that is a URL (a :class:`gateway.SecretURL`), and each URL a secret lists, is also looked
for in parts, as a target may echo one part alone: its user info (user and password, base64 too),
its path (whole, without its first slash, and each end of it from a segment on), its query (whole,
and each value). The scheme, host and port are not secret: :func:`clean_url` keeps them, so that a
record still says where a request went.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

REDACTED = "[redacted]"
_MARKER = "REDACTEDc0ffee"
MIN_SECRET_CHARS = 4  # shorter values would remove ordinary words
MIN_BASE64_CHARS = 5  # a shorter base64 piece would match by chance
MIN_URL_PART_CHARS = 8  # a secret URL's path and query parts: shorter ones are ordinary words (/api, json)
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
        json.dumps(secret)[1:-1].replace("/", "\\/"),  # JSON writers that escape the slash too
    }


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def secret_urls(secret: str) -> list[str]:
    """The URLs in a secret: the secret itself when it is one, or those it lists (``name=URL``
    entries separated by spaces, say)."""
    return _URL.findall(secret) if "://" in secret else []


def _userinfo_parts(url: str) -> set[str]:
    """The user info of a URL, whole and as user and password (raw and decoded)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return set()
    userinfo = netloc.rpartition("@")[0]
    if not userinfo:
        return set()
    user, _, password = userinfo.partition(":")
    return {v for v in (userinfo, user, password, unquote(user), unquote(password)) if len(v) >= MIN_SECRET_CHARS}


def _url_parts(secret: str) -> set[str]:
    """The parts of a URL (scheme://host...) a target may echo alone."""
    if "://" not in secret:
        return set()
    try:
        parts = urlsplit(secret)
    except ValueError:
        return set()
    if not parts.netloc:
        return set()
    found = _userinfo_parts(secret)
    pieces = [parts.path, parts.path.lstrip("/")]
    segments = parts.path.strip("/").split("/")
    pieces += ["/".join(segments[i:]) for i in range(len(segments))]  # each end of the path
    if parts.query:
        pieces += [parts.query, unquote(parts.query)] + [value for _, value in parse_qsl(parts.query)]
    if parts.fragment:
        pieces.append(parts.fragment)
    found.update(p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= MIN_URL_PART_CHARS)
    return found


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


def _longest_first(forms: set[str]) -> str:
    """A pattern matching any of ``forms``, the longest first where several start at one place (none
    left half-removed). Built as a trie — ``ab(?:c|d(?:ef)?)`` — so that the look-up at each place
    of a text follows one branch, not every form in turn (a secret listing twenty URLs has more than
    a thousand forms); a plain alternation, longest first, when the trie is too deep to build."""
    trie: dict[str, dict] = {}
    for form in forms:
        node = trie
        for char in form:  # in one letter case: the pattern ignores case, and forms may differ in it
            lower = char.lower()
            node = node.setdefault(lower if len(lower) == 1 else char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        literal = ""
        while len(node) == 1 and "" not in node:  # a chain: one literal, no group
            [(char, node)] = node.items()
            literal += re.escape(char)
        end = "" in node
        branches = [re.escape(char) + build(child) for char, child in node.items() if char]
        if not branches:
            return literal
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return literal + (f"(?:{body})?" if end else body)  # greedy: the longer form first

    try:
        return build(trie)
    except RecursionError:
        return "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))


@lru_cache(maxsize=256)
def _patterns(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, frozenset[str]]:
    urls = {url for s in secrets for url in secret_urls(s)}
    parts = {part for url in urls for part in _url_parts(url)}
    # base64: the secrets, and the user info of their URLs (HTTP Basic); not each path and query
    # part, whose encoded forms no target was seen to echo and which would slow every look-up
    encoded = {*secrets, *(part for url in urls for part in _userinfo_parts(url))}
    forms = {form for s in {*secrets, *urls, *parts} for form in text_forms(s)}
    text = re.compile(_longest_first(forms), re.IGNORECASE) if forms else None
    return text, frozenset(core for s in encoded for core in base64_cores(s))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``[redacted]``, in every form it may take there."""
    wanted = tuple(sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}))
    if not wanted or not text:
        return text
    pattern, cores = _patterns(wanted)
    if cores:
        text = _BASE64_RUN.sub(lambda m: REDACTED if any(c in m.group() for c in cores) else m.group(), text)
    return pattern.sub(REDACTED, text) if pattern else text


def _location(parts: SplitResult) -> str:
    """``scheme://host[:port]`` of a URL, an IPv6 literal in brackets; user info left out."""
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # not a port number
        port = None
    return f"{parts.scheme}://{netloc}:{port}" if port else f"{parts.scheme}://{netloc}"


def masked_url(url: str) -> str:
    """A secret URL as a message may show it: ``scheme://host[:port]/[redacted]`` (where it leads,
    not what opens it), or ``[redacted]`` when its host cannot be read."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.hostname:
        return REDACTED
    return f"{_location(parts)}/{REDACTED}"


def _within(url: str, secret: str) -> bool:
    """Whether ``url`` is a URL of ``secret`` (the secret itself, or one it lists), or starts with
    one (a plugin may add to it)."""
    return any(url.lower().startswith(found.lower()) for found in secret_urls(secret))


def clean_url(url: str, secrets: Iterable[str]) -> str:
    """The URL for the log: user info dropped, secret values removed from path and query, an IPv6
    literal kept in brackets. A URL that is a secret URL (or starts with one) is recorded as
    ``scheme://host[:port]/[redacted]``: where the request went, nothing that opens it."""
    secrets = [s for s in secrets if s]
    parts = urlsplit(url)
    location = _location(parts)
    if any(_within(url, s) for s in secrets):
        return f"{location}/{REDACTED}"
    location = redact(location, secrets)  # a secret in a host name, however unlikely
    path = redact(parts.path, secrets)
    if path and not path.startswith("/"):
        path = "/" + path
    # First as sent, then re-encoded (a value matches in one form or the other); the marker is one
    # that re-encoding leaves as it is.
    query = redact(parts.query, secrets).replace(REDACTED, _MARKER)
    query = redact(urlencode(parse_qsl(query, keep_blank_values=True)), secrets).replace(_MARKER, REDACTED)
    return location + path + (f"?{query}" if query else "")
