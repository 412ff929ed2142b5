"""The docs stay true to the code: every hook documented, every setting listed, the README's test
command is the one CI runs."""

from __future__ import annotations

import inspect
import re

from gateway.host import hookspecs
from gateway.host.plugins import SPEC_NAMES
from gateway.settings import KEYS

from .conftest import ROOT

WRITING_PLUGINS = (ROOT / "docs" / "writing-plugins.md").read_text()
README = (ROOT / "README.md").read_text()


def hook_heading(name: str) -> str:
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    return f"### `{name}({params})`"


def test_every_hook_has_a_section_headed_by_its_signature():
    headings = set(re.findall(r"^### `.*`$", WRITING_PLUGINS, flags=re.M))
    missing = [hook_heading(name) for name in sorted(SPEC_NAMES) if hook_heading(name) not in headings]
    assert not missing, f"docs/writing-plugins.md lacks: {missing}"


def test_no_section_documents_a_hook_that_does_not_exist():
    documented = set(re.findall(r"^### `(\w+)\(", WRITING_PLUGINS, flags=re.M))
    assert documented <= SPEC_NAMES


def test_readme_lists_every_setting():
    listed = set(re.findall(r"^\| `(GATEWAY_[A-Z_]+)` \|", README, flags=re.M))
    assert set(KEYS) <= listed, sorted(set(KEYS) - listed)


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"^    (make \w+)$", README, flags=re.M)
    assert "make serve" in commands and "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_the_outage_section_does_not_promise_what_the_flag_platform_does_not():
    """The flag platform retries a failed webhook once and does not guarantee delivery."""
    section = README.split("**When the database is unavailable**", 1)[1].split("\n## ", 1)[0]
    text = " ".join(section.split())
    assert "nothing is lost" not in text
    assert "retries a failed webhook **once** and does not guarantee delivery" in text
