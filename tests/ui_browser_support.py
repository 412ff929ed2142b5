"""Headless Chromium for the web UI's browser tests: Debian's ``chromium`` driven by Playwright with
the system browser (nothing downloads a browser build). Missing Chromium skips the tests locally
and fails them in CI (``CI`` set)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from gateway.testing import Reply

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = os.environ.get("GATEWAY_UI_SCREENSHOTS")
"""A folder: the browser tests save the screenshots of docs/ui.md there (``make screenshots``)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> str:
    """The Chromium executable; skips (locally) or fails (in CI) when it or Playwright is missing."""
    problem = None
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problem = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install -e '.[test]')"
    if problem:
        if in_ci():
            pytest.fail(f"browser tests cannot run in CI: {problem}", pytrace=False)
        pytest.skip(f"browser tests skipped: {problem}")
    return CHROMIUM


class BrowserSession:
    """A persistent Chromium context in a fresh profile folder."""

    def __init__(self, executable: str, viewport: dict | None = None, javascript: bool = True):
        from playwright.sync_api import sync_playwright

        self.profile = tempfile.mkdtemp(prefix="gateway-chromium-")
        self._playwright = sync_playwright().start()
        self.context = self._playwright.chromium.launch_persistent_context(
            self.profile, executable_path=executable, headless=True, args=LAUNCH_FLAGS,
            viewport=viewport or {"width": 1280, "height": 900},
            permissions=["clipboard-read", "clipboard-write"], java_script_enabled=javascript,
        )
        self.context.set_default_timeout(15000)
        self.console_errors: list[str] = []
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("console", lambda message: self.console_errors.append(message.text)
                     if message.type == "error" else None)

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self._playwright.stop()
            shutil.rmtree(self.profile, ignore_errors=True)


def screenshot(page, name: str, full_page: bool = True) -> None:
    """Save a screenshot for the docs when ``GATEWAY_UI_SCREENSHOTS`` names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


class FakeFlagPlatform:
    """The flag platform's metrics API (list per project, create) and its events import, on loopback."""

    def __init__(self, metrics: dict[str, list[dict]]):
        self.metrics = {project: list(items) for project, items in metrics.items()}

    def __call__(self, request) -> Reply:
        path = request.path.split("?")[0]
        match = re.fullmatch(r"/api/v2/metrics/([^/]+)", path)
        if match and request.method == "GET":
            items = self.metrics.get(match.group(1))
            if items is None:
                return Reply(404, {"code": "not_found", "message": "Unknown project"})
            return Reply(200, {"items": items, "totalCount": len(items)})
        if match and request.method == "POST":
            body = request.json()
            self.metrics.setdefault(match.group(1), []).append(body)
            return Reply(201, body)
        return Reply(202, None)
