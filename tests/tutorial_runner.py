"""Runs docs/writing-plugins.md's tutorial as written: its files from its blocks, its shell blocks in a
fresh environment. Used by tests/test_tutorial.py (which checks each step's outcome) and by
bench/bench_author_path.py (which times them)."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .child_venv import ChildVenv

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "writing-plugins.md"
DOC_PORT = "8081"


def all_blocks(text: str | None = None) -> list[tuple[str, str]]:
    """Every fenced code block of the tutorial, in order: (language, code)."""
    found, language, lines = [], None, []
    for line in (text or DOC.read_text()).splitlines():
        fence = re.match(r"^```(\S*)\s*$", line)
        if fence and language is None:
            language, lines = fence.group(1), []
        elif fence and not fence.group(1):
            found.append((language, "\n".join(lines) + "\n"))
            language = None
        elif language is not None:
            lines.append(line)
    assert language is None, "a code block is not closed"
    return found


def blocks(language: str, text: str | None = None) -> list[str]:
    """The code blocks of ``language`` in the tutorial, in order."""
    return [code for lang, code in all_blocks(text) if lang == language]


def tree_files(tree: str) -> list[str]:
    """The file paths an ascii tree lists."""
    paths, stack = [], []
    for line in tree.splitlines():
        name = line.lstrip("│├└─ \u00a0")
        depth = (len(line) - len(line.lstrip("│├└─ \u00a0"))) // 4
        if not name:
            continue
        stack[depth:] = [name.rstrip("/")]
        if not name.endswith("/"):
            paths.append("/".join(stack))
    return paths


def write_package(folder: Path) -> Path:
    """Write the tutorial's package into ``folder`` from its blocks; returns the package folder."""
    [tree] = blocks("text")
    files = tree_files(tree)
    root = files[0].split("/")[0]
    [pyproject] = blocks("toml")
    [setup_cfg] = blocks("ini")
    python = blocks("python")
    plugin_code = "\n\n".join(b for b in python if "gateway.testing" not in b)
    [test_code] = [b for b in python if "gateway.testing" in b]
    package = [f for f in files if f.endswith("/plugin.py")][0].split("/")[1]
    tests = [f for f in files if "/tests/" in f][0]
    contents = {
        f"{root}/pyproject.toml": pyproject, f"{root}/setup.cfg": setup_cfg,
        f"{root}/{package}/__init__.py": "", f"{root}/{package}/plugin.py": plugin_code, tests: test_code,
    }
    assert sorted(contents) == sorted(files), f"the tree lists {files}, the blocks make {sorted(contents)}"
    for relative, text in contents.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder / root


@dataclass
class Step:
    command: str
    seconds: float
    result: subprocess.CompletedProcess


def run_shell_steps(venv: ChildVenv, folder: Path, port: int) -> tuple[list[Step], str]:
    """Run the tutorial's shell blocks after the scaffold's: the install-test-check-list block, then the
    receiver (in the background, as in its own terminal) and the test-event block, the doc's port
    replaced by ``port``. Returns the steps and what the receiver printed."""
    sh = blocks("sh")
    install, receiver_block, test_event = sh[1], sh[2], sh[3]
    steps: list[Step] = []
    cwd = folder
    for line in install.strip().splitlines():
        command = line.split("#")[0].strip()
        if command.startswith("cd "):
            cwd = cwd / command[3:].strip()
            continue
        started = time.perf_counter()
        result = venv.run(command, cwd=cwd)
        steps.append(Step(command, time.perf_counter() - started, result))
    receiver = subprocess.Popen(["/bin/sh", "-c", "exec " + receiver_block.strip().replace(DOC_PORT, str(port))],
                                cwd=cwd, env=venv.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = receiver.stderr.readline()  # "listening on ..." once it accepts connections
        assert "listening" in ready, ready + receiver.stderr.read()
        script = test_event.strip().replace(DOC_PORT, str(port))
        started = time.perf_counter()
        result = venv.run(script, cwd=cwd)
        steps.append(Step("integrations add + integrations test", time.perf_counter() - started, result))
    finally:
        receiver.terminate()
        printed, _ = receiver.communicate(timeout=10)
    return steps, printed
