"""A secret echoed by a target is removed from what is recorded in every form it may take: any
letter case, URL-encoded, JSON-escaped, base64 at any alignment, and HTTP Basic credentials. The
encoded forms are written out literally, not computed with the code under test."""

from __future__ import annotations

import pytest
import requests_mock

from gateway import HttpClient, targets
from gateway.http import make_session
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
