"""A throw-away virtual environment that sees everything installed in this one (the gateway, its
dependencies, the test tools) and takes new packages of its own: what a plugin author's
environment is, without installing anything into the project's .venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


class ChildVenv:
    def __init__(self, path: Path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.python = str(path / "bin" / "python")
        purelib = subprocess.run([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        parent = sysconfig.get_paths()["purelib"]
        # addsitedir also runs the .pth files there (the editable installs of the gateway and plugins)
        Path(purelib, "_parent_environment.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
        scripts = {"pip": "-m pip", "pytest": "-m pytest", "event-gateway": "-m gateway", "mypy": "-m mypy"}
        for name, args in scripts.items():
            script = path / "bin" / name
            script.write_text(f'#!/bin/sh\nexec "{self.python}" {args} "$@"\n')
            script.chmod(0o755)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PYTEST_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        env.update(extra)
        return env

    def run(self, command: str, cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        """Run a shell command in this environment (its bin/ first on PATH)."""
        return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=self.env(**env), capture_output=True,
                              text=True, timeout=timeout)
