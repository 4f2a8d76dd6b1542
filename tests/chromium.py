"""Debian's Chromium driven by playwright, for the tests of pages people use (Swagger UI, the
status page); a missing browser fails under CI=true and skips elsewhere."""

from __future__ import annotations

import contextlib
import os

import pytest
from playwright.sync_api import sync_playwright

# Debian's chromium (.ci/run installs it): `playwright install` downloads, which cannot work here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser, closed on exit."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1280, height: int = 1000):
    """A page of its own context (its own sessionStorage and cookies)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(15_000)
    return page
