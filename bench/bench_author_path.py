"""How long a plugin author's steps take, from an empty folder to a plugin receiving a test event.

Run from the repository root::

    .venv/bin/python bench/bench_author_path.py

It runs, in fresh throw-away environments, (1) the scaffold's steps as docs/writing-plugins.md gives
them (``event-gateway plugins new``, ``pip install -e '.[test]'``, ``pytest``, ``event-gateway plugins
check``, ``event-gateway plugins``) and (2) the tutorial's own steps (install, tests, check, list,
then adding an integration and sending it a test event that a local receiver gets), timing each
command. Side by side, the bare baseline of each step: the same tool on a bare package that has
nothing of the gateway (``pip install -e .`` of a one-module package, ``pytest`` of one trivial
test) or, for the gateway's commands, the Python interpreter starting and exiting. The ratio says
what the gateway's part costs over the floor the step stands on. Machine time only: the time to
read the docs and edit the plugin is the author's.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.testing import free_port  # noqa: E402
from tests.child_venv import ChildVenv  # noqa: E402
from tests.tutorial_runner import blocks, run_shell_steps, write_package  # noqa: E402

BARE_SETUP = "[metadata]\nname = bare-package\nversion = 0.1.0\n\n[options]\npy_modules = bare\n"
BARE_PYPROJECT = '[build-system]\nrequires = ["setuptools>=68", "wheel"]\nbuild-backend = "setuptools.build_meta"\n'


def timed(venv: ChildVenv, command: str, cwd: Path) -> float:
    started = time.perf_counter()
    result = venv.run(command, cwd=cwd)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command!r} failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def baselines(work: Path) -> dict[str, float]:
    bare = work / "bare-package"
    (bare / "tests").mkdir(parents=True)
    (bare / "setup.cfg").write_text(BARE_SETUP)
    (bare / "pyproject.toml").write_text(BARE_PYPROJECT)
    (bare / "bare.py").write_text("VALUE = 1\n")
    (bare / "tests" / "test_bare.py").write_text("import bare\n\n\ndef test_value():\n    assert bare.VALUE == 1\n")
    venv = ChildVenv(work / "bare-venv")
    return {"python start": timed(venv, "python -c pass", bare), "install": timed(venv, "pip install -e .", bare),
            "tests": timed(venv, "pytest -q", bare)}


def baseline_of(command: str) -> str:
    if command.startswith("pip install"):
        return "install"
    if command.startswith("pytest"):
        return "tests"
    return "python start"


def scaffold_path(work: Path) -> list[tuple[str, float]]:
    venv = ChildVenv(work / "scaffold-venv")
    [block] = [b for b in blocks("sh") if "plugins new" in b]
    cwd, rows = work, []
    for line in block.strip().splitlines():
        command = line.split("#")[0].strip()
        if command.startswith("cd "):
            cwd = cwd / command[3:]
            continue
        rows.append((command, timed(venv, command, cwd)))
    return rows


def tutorial_path(work: Path) -> list[tuple[str, float]]:
    folder = work / "tutorial"
    folder.mkdir()
    write_package(folder)
    venv = ChildVenv(work / "tutorial-venv")
    steps, printed = run_shell_steps(venv, folder, free_port())
    for step in steps:
        if step.result.returncode != 0:
            raise SystemExit(f"{step.command!r} failed:\n{step.result.stdout}\n{step.result.stderr}")
    if "[Test]" not in printed:
        raise SystemExit(f"the receiver did not get the test event: {printed!r}")
    return [(step.command, step.seconds) for step in steps]


def report(title: str, rows: list[tuple[str, float]], base: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"| step | ours (s) | bare baseline (s) | ratio |\n| --- | ---: | ---: | ---: |")
    total = total_base = 0.0
    for command, seconds in rows:
        floor = base[baseline_of(command)] * (2 if "+" in command else 1)
        total, total_base = total + seconds, total_base + floor
        print(f"| `{command}` | {seconds:.2f} | {floor:.2f} ({baseline_of(command)}) | {seconds / floor:.1f} |")
    print(f"| total | {total:.2f} | {total_base:.2f} | {total / total_base:.1f} |")


def main() -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    with tempfile.TemporaryDirectory(prefix="bench-author-") as tmp:
        work = Path(tmp)
        base = baselines(work)
        report("Scaffold (docs/writing-plugins.md, 'The short way')", scaffold_path(work), base)
        report("Tutorial (docs/writing-plugins.md, sections 4 and 5)", tutorial_path(work), base)


if __name__ == "__main__":
    main()
