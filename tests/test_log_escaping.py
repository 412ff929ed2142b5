"""Values from outside cannot forge log lines: control characters (CR, LF, NUL, the other C0 and C1
characters, and the Unicode line separators) in a gateway log record are escaped, so one record is
one line whatever a remote answer, a webhook or a user's input put in it."""

from __future__ import annotations

import io
import logging
import re

import pytest

from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.runtime.log_escaping import escape_controls

from .conftest import AUTH

TOKEN = "api-0123456789-log-token"
PUBLIC = "https://gw.example.com"
FORGED = "\n2026-12-07 09:00:00,000 INFO gateway.audit: admin action integration.delete origin=api integration=all"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ [\w.]+: ")


@pytest.mark.parametrize("raw, shown", [
    ("a\nb", "a\\nb"),
    ("a\r\nb", "a\\r\\nb"),
    ("nul\x00end", "nul\\x00end"),
    ("bell\x07 esc\x1b[31m", "bell\\x07 esc\\x1b[31m"),
    ("tab\tdel\x7f", "tab\\tdel\\x7f"),
    ("c1\x85\x9b", "c1\\x85\\x9b"),
    ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ("plain text, ünïcode ✓", "plain text, ünïcode ✓"),
])
def test_control_characters_are_escaped(raw, shown):
    assert escape_controls(raw) == shown


@pytest.fixture
def log_lines():
    """What a plain log handler writes (the standalone gateway's format), as lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_webhook_id_with_a_newline_cannot_forge_an_audit_line(make_app, log_lines):
    client = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}).test_client()
    with FakeFlagPlatform(TOKEN) as platform:
        platform.add_webhook(_id="65f0a1b2c3" + FORGED, url=PUBLIC + "/webhooks/launchdarkly", sign=True)
        answer = client.put("/api/v1/connections/launchdarkly", headers=AUTH,
                            json={"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url})
    assert answer.status_code == 200, answer.get_json()
    lines = log_lines()
    assert any("admin action connection.connect" in line and "\\n2026-12-07" in line for line in lines), lines
    assert all(LINE.match(line) for line in lines), lines  # every line is a record of its own
    assert not any(line.startswith("2026-12-07 09:00:00,000") for line in lines)


def test_any_gateway_logger_escapes_and_others_are_left_alone(make_app, log_lines):
    make_app()
    logging.getLogger("gateway.inbound.webhooks").warning("refused %s", "id\nFAKE LINE")
    logging.getLogger("gateway_sentry.receive").warning("plugin said %r and %s", "x", "y\r\nFAKE")
    lines = log_lines()
    assert "refused id\\nFAKE LINE" in lines[-2] and lines[-1].endswith("plugin said 'x' and y\\r\\nFAKE")
    assert not any(line.startswith("FAKE") for line in lines)
