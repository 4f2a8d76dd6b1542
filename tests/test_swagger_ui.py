"""Swagger UI as a person uses it, in headless Chromium: authorize, try GET /current, read it."""

from __future__ import annotations

import json
import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.tokens import FULL

pytestmark = pytest.mark.usefixtures("sqlite_only")

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


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_authorize_and_try_get_current(live_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(15_000)
    # Swagger UI's scripts and styles come from the service itself: no CDN, no internet.
    elsewhere = []

    def note(request):
        if request.url.startswith(("http:", "https:")) and not request.url.startswith(
            live_server.url
        ):
            elsewhere.append(request.url)

    page.on("request", note)
    page.goto(live_server.url + "/docs")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(f"Bearer {FULL}")
    dialog.get_by_role("button", name="Authorize").click()
    dialog.get_by_role("button", name="Close").click()

    current = page.locator("#operations-status-get_current")
    current.locator(".opblock-summary").click()
    current.get_by_role("button", name="Try it out").click()
    current.get_by_role("button", name="Execute").click()

    answer = current.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status")).to_have_text("200")
    body = json.loads(answer.locator(".response-col_description pre").first.inner_text())
    assert body["current"] == [] and body["up_to_date"] is False and body["pending"]
    # The request carried what was typed into the Authorize box.
    assert f"Authorization: Bearer {FULL}" in current.locator(".curl-command").inner_text()

    current.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "swagger-ui-current.png")
    assert elsewhere == []
