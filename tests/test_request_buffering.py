"""The framing of requests read whole before a thread takes them (gateway/runtime/request_buffering.py):
when a request is complete, when it is not yet, and what is refused or left to gunicorn's parser."""

from __future__ import annotations

import pytest

from gateway.runtime.request_buffering import MORE, PASS, READY, ReadLimits, RequestBuffer

LIMITS = ReadLimits(head_seconds=10, body_seconds=30, max_body=100)
HEAD = b"POST /webhooks/launchdarkly HTTP/1.1\r\nHost: x\r\n"


def fed(*pieces: bytes) -> tuple[str, RequestBuffer]:
    buffer = RequestBuffer(b"", 0.0, LIMITS)
    outcome = MORE
    for piece in pieces:
        outcome = buffer.feed(piece, 1.0)
    return outcome, buffer


@pytest.mark.parametrize("pieces, outcome", [
    ((b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",), READY),
    ((b"GET /healthz HTTP/1.1\r\nHost: x\r\n",), MORE),
    ((HEAD + b"Content-Length: 5\r\n\r\nhel",), MORE),
    ((HEAD + b"Content-Length: 5\r\n\r\nhel", b"lo"), READY),
    ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n",), MORE),
    ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",), READY),
    ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nab", b"c\r\n0\r\nX-T: 1\r\n\r\n"), READY),
    ((HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",), PASS),  # the parser answers 400
    ((HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",), PASS),
    ((HEAD + b"Transfer-Encoding: gzip\r\n\r\n",), PASS),
    ((HEAD + b"Content-Length: x\r\n\r\n",), PASS),
])
def test_framing(pieces, outcome):
    assert fed(*pieces)[0] == outcome


def test_a_body_past_the_limit_is_refused_at_the_head():
    outcome, buffer = fed(HEAD + b"Content-Length: 101\r\n\r\n")
    assert outcome == PASS and buffer.error[0] == 413


def test_chunks_past_the_limit_are_refused():
    outcome, buffer = fed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + (b"32\r\n" + b"a" * 50 + b"\r\n") * 3)
    assert outcome == PASS and buffer.error[0] == 413


def test_a_head_past_64_kib_is_refused():
    outcome, buffer = fed(HEAD + b"X-Big: " + b"a" * 70000)
    assert outcome == PASS and buffer.error[0] == 431


def test_deadlines_head_then_body():
    buffer = RequestBuffer(b"", 0.0, LIMITS)
    assert buffer.feed(HEAD, 5.0) == MORE and not buffer.expired(9.9) and buffer.expired(10.0)
    assert "GATEWAY_HEADER_READ_SECONDS" in buffer.late_message()
    assert buffer.feed(b"Content-Length: 5\r\n\r\n", 9.0) == MORE
    assert not buffer.expired(38.9) and buffer.expired(39.0)
    assert "GATEWAY_BODY_READ_SECONDS" in buffer.late_message()


def test_expect_continue_is_noted():
    _, buffer = fed(HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert buffer.wants_continue
