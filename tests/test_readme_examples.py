"""The README's worked example, run as written: the integration it adds and the answers it shows are
what the gateway really answers (spacing included), so a reader who compares sees the same."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from .conftest import AUTH, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _curl_blocks() -> list[tuple[str, str | None]]:
    """Each ``curl`` command of the README's indented examples (continuation lines joined) with the
    ``# ...`` answer line that follows it, if any."""
    lines = README.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("curl "):
            command = line
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            while i + 1 < len(lines) and lines[i + 1].startswith("           "):  # a -d body spread over lines
                i += 1
                command += " " + lines[i].strip()
            answer = lines[i + 1].strip()[2:] if i + 1 < len(lines) and lines[i + 1].strip().startswith("# ") else None
            blocks.append((command, answer))
        i += 1
    return blocks


def _shown_as_pattern(shown: str) -> re.Pattern[str]:
    """The README's answer, ``…`` standing for a value that differs each time."""
    return re.compile("^" + re.escape(shown).replace("…", "[^\"]+") + "$")


def test_the_worked_example_answers_as_the_readme_shows(make_app):
    app = make_app(plugins=(), entry_points=True)
    client = app.test_client()
    blocks = _curl_blocks()
    create = next(command for command, _ in blocks if "/api/v1/integrations" in command and " -d " in command)
    body = json.loads(shlex.split(create)[shlex.split(create).index("-d") + 1])
    created = client.post("/api/v1/integrations", headers=AUTH, json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["config"]["api_token"] == "****OKEN"
    assert '`"api_token": "****OKEN"`' in README

    webhooks = [(c, a) for c, a in blocks if "/webhooks/launchdarkly" in c and a]
    assert len(webhooks) == 2  # the staging change, then the production one
    for webhook, shown in webhooks:
        payload = shlex.split(webhook)[shlex.split(webhook).index("--data-binary") + 1].lstrip("@")
        response = client.post("/webhooks/launchdarkly", data=(ROOT / payload).read_bytes(),
                               content_type="application/json")
        printed = response.get_data(as_text=True).rstrip("\n")  # what curl -s prints
        assert _shown_as_pattern(shown).match(printed), (shown, printed)


def test_every_payload_the_readme_names_exists():
    named = re.findall(r"examples/payloads/[\w.-]+\.json", README)
    assert named
    for path in named:
        assert Path(ROOT / path).is_file(), path
