"""Swagger UI's "Try it out" on POST /upgrade, in headless Chromium: the body it pre-fills works."""

from __future__ import annotations

import json
import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.revision_graph import TIP
from tests.test_swagger_ui import CHROMIUM, CHROMIUM_ARGS
from tests.tokens import FULL

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def test_try_it_out_upgrade_with_the_prefilled_body(page, live_server, tmp_path):
    page.goto(live_server.url + "/docs")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(f"Bearer {FULL}")
    dialog.get_by_role("button", name="Authorize").click()
    dialog.get_by_role("button", name="Close").click()

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
