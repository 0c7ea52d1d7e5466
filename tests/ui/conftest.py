"""Browser fixtures: one headless Debian Chromium per session, one page per test with its screenshots.

Each test module starts its own `dagster dev` (tests/ui/dagster_dev.py) over its own temporary
data, so a module's server state never leaks into another's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.dagster_dev import chromium

# Hang guard for one UI action or assertion (Playwright waits for the element; this only bounds a hang).
UI_TIMEOUT_MS = 120_000
expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


class Shots:
    """Screenshots of one test, numbered in order under its tmp_path."""

    def __init__(self, page, folder: Path) -> None:
        self.page, self.folder, self.n = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def page(browser):
    """A fresh page in its own browser context."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture()
def shots(page, tmp_path):
    """`shots("name")` saves a screenshot under the test's tmp_path; the last one is taken at teardown."""
    s = Shots(page, tmp_path / "screenshots")
    yield s
    s("final")  # the state the test ended in, pass or fail
