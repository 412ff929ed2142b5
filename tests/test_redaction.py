"""A secret echoed by a target is removed from what is recorded in every form it may take: any
letter case, URL-encoded, JSON-escaped, base64 at any alignment, and HTTP Basic credentials. The
encoded forms are written out literally, not computed with the code under test."""

from __future__ import annotations

import pytest
import requests_mock

from gateway import HttpClient
from gateway.outbound import targets
from gateway.outbound.http import make_session
from gateway.redaction import base64_cores, clean_url, redact

SECRET = "sup3r-secret-token"
AWKWARD = 'ab/cd+ef=="gh'


@pytest.mark.parametrize("text, expected", [
    ("token sup3r-secret-token is bad", "token [redacted] is bad"),
    # letter case
    ("TOKEN SUP3R-SECRET-TOKEN IS BAD", "TOKEN [redacted] IS BAD"),
    ("Sup3r-Secret-Token", "[redacted]"),
    # base64, standard and URL-safe, padded or not, at each of the three alignments
    ("echo: c3VwM3Itc2VjcmV0LXRva2Vu", "echo: [redacted]"),
    ("Authorization: Basic dXNlcjpzdXAzci1zZWNyZXQtdG9rZW4=", "Authorization: Basic [redacted]"),
    ("Basic c3VwM3Itc2VjcmV0LXRva2VuOg==", "Basic [redacted]"),
    ('{"auth": "Basic OnN1cDNyLXNlY3JldC10b2tlbg=="}', '{"auth": "Basic [redacted]"}'),
    ("blob=eyJ0Ijoic3VwM3Itc2VjcmV0LXRva2VuIn0=&x=1", "blob=[redacted]&x=1"),
    ("blob=eyJ0Ijoic3VwM3Itc2VjcmV0LXRva2VuIn0", "blob=[redacted]"),
])
def test_forms_of_a_plain_secret(text, expected):
    assert redact(text, [SECRET]) == expected


@pytest.mark.parametrize("text, expected", [
    ('{"echo": "ab/cd+ef==\\"gh"}', '{"echo": "[redacted]"}'),  # JSON-escaped
    ("q=ab%2Fcd%2Bef%3D%3D%22gh", "q=[redacted]"),  # URL-encoded, nothing safe
    ("q=ab%2fcd%2bef%3d%3d%22gh", "q=[redacted]"),  # ... in lower-case hex
    ("q=ab/cd%2Bef%3D%3D%22gh", "q=[redacted]"),  # ... with / left as is
    ("q=ab%2Fcd%2Bef%3D%3D%22gh".upper(), "Q=[redacted]"),
    ("q=ab%2Fcd%2Bef%3D%3D%22gh&r=1", "q=[redacted]&r=1"),
    ("AB/CD+EF==\"GH", "[redacted]"),
    ("basic OmFiL2NkK2VmPT0iZ2g=", "basic [redacted]"),  # base64(":" + secret)
    ("x YWIvY2QrZWY9PSJnaA y", "x [redacted] y"),  # unpadded
    ("x YWIvY2QrZWY9PSJnaA== y", "x [redacted] y"),
    ("x YWIvY2QrZWY9PSJnaA== y YWIvY2QrZWY9PSJnaA==", "x [redacted] y [redacted]"),
])
def test_forms_of_a_secret_with_special_characters(text, expected):
    assert redact(text, [AWKWARD]) == expected


def test_unrelated_text_and_short_values_are_left_alone():
    text = "Basic dXNlcjpvdGhlcg== and c3VwM3I= and sup3r and /api/v2/events"
    assert redact(text, [SECRET]) == text
    assert redact("abc abc", ["abc"]) == "abc abc"  # shorter than four characters: not a secret
    assert redact("", [SECRET]) == ""
    assert redact("nothing", []) == "nothing"
    assert redact("nothing", ["", None]) == "nothing"


def test_the_longest_form_goes_first():
    assert redact("xx sup3r-secret-token-and-more yy", [SECRET, "sup3r-secret-token-and-more"]) == "xx [redacted] yy"


def test_base64_cores_are_those_of_each_alignment():
    # base64 of "abcdef", "\0abcdef" and "\0\0abcdef": YWJjZGVm, AGFiY2RlZg==, AABhYmNkZWY=
    assert base64_cores("abcdef") == {"YWJjZGVm", "FiY2RlZ", "hYmNkZW"}
    # YWI/PmNk, AGFiPz5jZA==, AABhYj8+Y2Q=, and the URL-safe alphabet
    assert base64_cores("ab?>cd") == {"YWI/PmNk", "YWI_PmNk", "FiPz5jZ", "hYj8+Y2", "hYj8-Y2"}
    # YWJjZA==, AGFiY2Q=, AABhYmNk: the middle one has only four characters of its own, left out
    assert base64_cores("abcd") == {"YWJjZ", "hYmNk"}


def test_clean_url_drops_user_info_and_keeps_brackets():
    assert clean_url("https://u:p@[2606:4700::1111]:8443/a/sup3r-secret-token?k=SUP3R-SECRET-TOKEN", [SECRET]) == \
        "https://[2606:4700::1111]:8443/a/[redacted]?k=[redacted]"
    assert clean_url("https://tool.example/p?token=ab%2Fcd%2Bef%3D%3D%22gh&a=1", [AWKWARD]) == \
        "https://tool.example/p?token=[redacted]&a=1"


def test_the_client_records_no_form_of_the_secret(monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.216.34"])
    http = HttpClient(make_session(), secrets=[SECRET])
    echoed = ("you sent Authorization: Basic dXNlcjpzdXAzci1zZWNyZXQtdG9rZW4= and SUP3R-SECRET-TOKEN and "
              "c3VwM3Itc2VjcmV0LXRva2Vu")
    with requests_mock.Mocker() as mock:
        mock.post("https://tool.example/in", status_code=401, text=echoed)
        http.post("https://tool.example/in", headers={"Authorization": "Basic dXNlcjpzdXAzci1zZWNyZXQtdG9rZW4="})
    assert http.exchanges[0].excerpt == "you sent Authorization: Basic [redacted] and [redacted] and [redacted]"


# A URL that is itself a secret (SecretURL): its secret parts — path, query, user info — are
# removed wherever they appear alone, in every form; the scheme, host and port stay readable.
HOOK = "https://chat.example.com:8443/hooks/T0AB12/B0CD34/XyZsecretPART9?key=k3y-VALUE-77&v=2"
USER_HOOK = "https://key0123456789abcdef@o1.ingest.example.io/4505"


@pytest.mark.parametrize("text", [
    "POST /hooks/T0AB12/B0CD34/XyZsecretPART9 not found",  # the path, plain
    "no route for %2Fhooks%2FT0AB12%2FB0CD34%2FXyZsecretPART9",  # URL-encoded
    "no route for hooks/T0AB12/B0CD34/XyZsecretPART9",  # without its first slash
    "unknown channel B0CD34/XyZsecretPART9",  # its end
    "token XyZsecretPART9 revoked",  # its last segment
    '{"path": "\\/hooks\\/T0AB12\\/B0CD34\\/XyZsecretPART9"}',  # JSON with escaped slashes
    "query was key=k3y-VALUE-77&v=2",  # the query
    "bad key k3y-VALUE-77",  # a value of the query
])
def test_the_secret_parts_of_a_secret_url_are_removed_alone(text):
    cleaned = redact(text, [HOOK])
    for part in ("XyZsecretPART9", "k3y-VALUE-77", "XyZsecretPART9".lower()):
        assert part not in cleaned
    assert "[redacted]" in cleaned


def test_the_user_info_of_a_secret_url_is_removed_alone_and_the_host_kept():
    text = "invalid key key0123456789abcdef for o1.ingest.example.io project /4505"
    # (a path part shorter than 8 characters is not looked for alone: /4505 is no secret)
    assert redact(text, [USER_HOOK]) == "invalid key [redacted] for o1.ingest.example.io project /4505"


def test_a_secret_url_is_recorded_with_its_scheme_host_and_port_only():
    assert clean_url(HOOK, [HOOK]) == "https://chat.example.com:8443/[redacted]"
    assert clean_url(HOOK + "&thread=flags", [HOOK]) == "https://chat.example.com:8443/[redacted]"
    assert clean_url(USER_HOOK, [USER_HOOK]) == "https://o1.ingest.example.io/[redacted]"
    # another URL of the same host keeps its own path, without the secret URL's parts
    assert clean_url("https://chat.example.com:8443/api/auth.test", [HOOK]) == \
        "https://chat.example.com:8443/api/auth.test"
    assert clean_url("https://chat.example.com/v2/B0CD34/XyZsecretPART9/info", [HOOK]) == \
        "https://chat.example.com/v2/[redacted]/info"


TRIGGERS = ("off=https://app.example.com/webhook/triggers/65f0a1b2c3d4e5f6a7b8c9d0/8e1f3c2a-77aa-4bde-9f00-1234567890ab "
            "on=https://app.example.com/webhook/triggers/65f0a1b2c3d4e5f6a7b8c9d1/0c9b8a7d-1111-4222-8333-abcdefabcdef")
TRIGGER = "https://app.example.com/webhook/triggers/65f0a1b2c3d4e5f6a7b8c9d0/8e1f3c2a-77aa-4bde-9f00-1234567890ab"


def test_urls_inside_a_secret_are_secret_urls_too(monkeypatch):
    # a secret that lists URLs (the dynatrace-problems trigger_urls: name=URL entries)
    echoed = ("no trigger at /webhook/triggers/65f0a1b2c3d4e5f6a7b8c9d0/8e1f3c2a-77aa-4bde-9f00-1234567890ab "
              "(%2Fwebhook%2Ftriggers%2F65f0a1b2c3d4e5f6a7b8c9d0%2F8e1f3c2a-77aa-4bde-9f00-1234567890ab), "
              "token 8e1f3c2a-77aa-4bde-9f00-1234567890ab")
    cleaned = redact(echoed, [TRIGGERS])
    assert "8e1f3c2a" not in cleaned and "65f0a1b2c3d4e5f6a7b8c9d0" not in cleaned, cleaned
    assert clean_url(TRIGGER, [TRIGGERS]) == "https://app.example.com/[redacted]"
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.216.34"])
    http = HttpClient(make_session(), secrets=[TRIGGERS])
    with requests_mock.Mocker() as mock:
        mock.post(TRIGGER, status_code=404, text=echoed)
        http.post(TRIGGER)
    [exchange] = http.exchanges
    assert exchange.url == "https://app.example.com/[redacted]"
    assert "8e1f3c2a" not in exchange.excerpt and "65f0a1b2c3d4e5f6a7b8c9d0" not in exchange.excerpt


def test_forms_differing_in_letter_case_still_match_longest_first():
    # %2f and %2F forms, and a short secret inside a longer one of another letter case
    assert redact("x AB%2FCD-more y", ["ab/cd", "AB/CD-MORE"]) == "x [redacted] y"
    assert redact("x ab/cd-more y", ["AB/CD", "ab/cd-more"]) == "x [redacted] y"
