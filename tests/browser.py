"""A real headless Chromium (the distribution's package) for the report tests, via Playwright.

Playwright only drives the browser: it is pointed at the system's ``chromium`` binary
(``apt-get install chromium``; CI installs it in ``.ci/run``), never at a browser of its
own, so nothing is downloaded. Tests skip, saying so, only where no chromium binary exists.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for name in (os.environ.get("BUNDLEOPT_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium binary on this machine (apt-get install chromium; CI installs it)")
    return path


@dataclass
class Opened:
    page: object
    errors: list[str] = field(default_factory=list)       # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)     # every URL the page asked for


class Browser:
    """One Chromium for a test module; :meth:`open` loads a file and records what it did."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="bundleopt-chromium-")
        self._pw = sync_playwright().start()
        self._ctx = self._pw.chromium.launch_persistent_context(
            self._profile, executable_path=require_chromium(), headless=True, args=FLAGS,
            viewport={"width": 1300, "height": 900})

    def open(self, path: Path, settle_ms: int = 500) -> Opened:
        page = self._ctx.new_page()
        seen = Opened(page)
        page.on("console", lambda m: seen.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
        page.on("request", lambda r: seen.requests.append(r.url))
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(settle_ms)
        return seen

    def close(self) -> None:
        self._ctx.close()
        self._pw.stop()
        shutil.rmtree(self._profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a test module (import this fixture by name)."""
    require_chromium()
    b = Browser()
    yield b
    b.close()
