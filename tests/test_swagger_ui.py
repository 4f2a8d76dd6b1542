"""Swagger UI as a person uses it, in headless Chromium: authorize, try GET /current and
POST /upgrade with the body it pre-fills, read the answers."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.chromium import chromium, new_page
from tests.revision_graph import TIP
from tests.tokens import FULL

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


def authorize(page, url: str) -> None:
    """Open Swagger UI and authorize with the test token, as a person would."""
    page.goto(url + "/docs")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(f"Bearer {FULL}")
    dialog.get_by_role("button", name="Authorize").click()
    dialog.get_by_role("button", name="Close").click()


def test_authorize_and_try_get_current(live_server, browser, tmp_path):
    page = new_page(browser)
    # Swagger UI's scripts and styles come from the service itself: no CDN, no internet.
    elsewhere = []

    def note(request):
        if request.url.startswith(("http:", "https:")) and not request.url.startswith(
            live_server.url
        ):
            elsewhere.append(request.url)

    page.on("request", note)
    authorize(page, live_server.url)

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


def test_try_it_out_upgrade_with_the_prefilled_body(live_server, browser, tmp_path):
    page = new_page(browser)
    authorize(page, live_server.url)

    upgrade = page.locator("#operations-migrations-post_upgrade")
    upgrade.locator(".opblock-summary").click()
    # Each error status shows its own problem type, not one example for all.
    documented = upgrade.locator(".responses-wrapper tr.response")
    expect(documented.and_(page.locator("[data-code='409']"))).to_contain_text(
        "urn:migrateway:problem:locked"
    )
    expect(documented.and_(page.locator("[data-code='412']"))).to_contain_text(
        "urn:migrateway:problem:precondition-failed"
    )

    upgrade.get_by_role("button", name="Try it out").click()
    body = upgrade.locator("textarea.body-param__text")
    prefilled = json.loads(body.input_value())
    assert prefilled == {"target": "head", "sql": False, "lock_timeout": 5}
    upgrade.get_by_role("button", name="Execute").click()

    answer = upgrade.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status")).to_have_text("200")
    result = json.loads(answer.locator(".response-col_description pre").first.inner_text())
    assert result["from"] == [] and result["to"] == [TIP] and result["applied"]
    assert f"Authorization: Bearer {FULL}" in upgrade.locator(".curl-command").inner_text()

    upgrade.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "swagger-ui-upgrade.png")
