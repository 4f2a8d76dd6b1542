"""The status page at / in headless Chromium: it asks for the token once, shows where a
database mid-way on a branched history is, its graph, its last operations and the plan of its
pending upgrade, and makes no request but reads of the service's own API."""

from __future__ import annotations

import re
import shutil

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.chromium import chromium, new_page
from tests.revision_graph import BASE, FEATURE, MAIN, MERGE, SECOND, TIP, table
from tests.tokens import DEPLOYER, FULL, READER, bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")

SCREENSHOT_COPY = "/tmp/status-page.png"
DROP = "ffff00000007"  # after TIP: drops the table MAIN created
HOTFIX = "9999000000a8"


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


class Recorder:
    """Every request the page makes: method, URL, and the Authorization header it carried."""

    def __init__(self, page):
        self.requests: list[tuple[str, str, str | None]] = []
        page.on("request", self.note)

    def note(self, request) -> None:
        self.requests.append((request.method, request.url, request.headers.get("authorization")))

    def outside(self, origin: str) -> list[str]:
        """URLs of requests to anywhere but the service (blob: is the graph, made in the page)."""
        return [url for _, url, _ in self.requests if not url.startswith((origin + "/", "blob:"))]


def sign_in(page, url: str, token: str) -> None:
    page.goto(url + "/")
    expect(page.locator("#login")).to_be_visible()
    page.locator("#token").fill(token)
    page.get_by_role("button", name="Show status").click()


def test_status_of_a_database_mid_way(migrations, database_url, start_server, browser, tmp_path):
    # After TIP, a revision that drops the table MAIN creates: blocking once that holds a row.
    migrations.add(DROP, TIP, message="drop audit", upgrade=f"op.drop_table({table(MAIN)!r})")
    server = start_server()
    # Two operations by two tokens that succeed: the database ends at MAIN.
    r = server.post("/upgrade", json={"target": SECOND}, headers=bearer(DEPLOYER))
    assert r.status_code == 200, r.text
    assert server.post("/upgrade", json={"target": MAIN}).status_code == 200
    # A row in MAIN's table, and by hand the table FEATURE creates: the upgrade to it fails.
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {table(MAIN)} (id) VALUES (1)"))
        connection.execute(sa.text(f"CREATE TABLE {table(FEATURE)} (id INTEGER)"))
    engine.dispose()
    assert server.post("/upgrade", json={"target": FEATURE}).status_code == 422
    pending = server.get("/current").json()["pending"]
    assert set(pending) == {FEATURE, MERGE, TIP, DROP}

    # The page itself is public (it holds no data), under a policy that forbids other origins.
    anonymous = requests.get(server.url + "/", timeout=10)
    assert anonymous.status_code == 200 and anonymous.headers["Content-Type"].startswith(
        "text/html"
    )
    policy = anonymous.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "http" not in policy and "*" not in policy and "unsafe-inline" not in policy
    assert MAIN not in anonymous.text
    assert requests.get(server.url + "/docs", timeout=10).status_code == 200

    page = new_page(browser, height=900)
    recorder = Recorder(page)
    # A wrong token: the problem's title and detail, and the question again.
    sign_in(page, server.url, "mgw_not-a-token-anyone-made")
    problem = page.locator("#login-problem")
    expect(problem).to_contain_text("A valid bearer token is required")
    expect(problem).to_contain_text("The bearer token is not known.")
    expect(problem).not_to_contain_text("{")
    page.locator("#token").fill(FULL)
    page.get_by_role("button", name="Show status").click()

    where = page.locator("#where")
    expect(where.locator("dd").nth(0)).to_have_text(MAIN)  # current
    expect(where.locator("dd").nth(1)).to_have_text(DROP)  # heads
    expect(where).to_contain_text("4 pending")

    operations = page.locator("#operations tbody tr")
    expect(operations).to_have_count(3)
    failed = operations.nth(0).locator("td")
    expect(failed.nth(4)).to_have_text("failed")
    expect(failed.nth(5)).to_have_text("tester")
    expect(failed.nth(7)).to_contain_text(f"at {FEATURE}: ")
    expect(failed.nth(7)).to_contain_text(f"table {table(FEATURE)} already exists")
    succeeded = operations.nth(1).locator("td")
    expect(succeeded.nth(1)).to_have_text("upgrade")
    expect(succeeded.nth(3)).to_have_text(f"{SECOND} → {MAIN}")
    expect(succeeded.nth(4)).to_have_text("succeeded")
    expect(succeeded.nth(5)).to_have_text("tester")
    expect(succeeded.nth(6)).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))
    expect(operations.nth(2).locator("td").nth(5)).to_have_text("deployer")

    steps = page.locator("#plan table.steps tbody tr")
    expect(steps).to_have_count(4)
    assert [steps.nth(i).locator("td").nth(1).inner_text() for i in range(4)] == pending
    expect(steps.nth(2)).to_contain_text("create release")
    expect(page.locator("#plan")).to_contain_text("1 blocking")
    blocking = page.locator("#plan table.steps tbody tr.blocking")
    expect(blocking).to_have_count(1)
    expect(blocking.locator("td").nth(1)).to_have_text(DROP)

    picture = page.locator("#graph-picture")
    expect(picture).to_be_visible()
    page.wait_for_function("document.querySelector('#graph-picture').naturalWidth > 100")
    expect(page.locator("#verify")).to_contain_text("3 applied revision(s) checked")
    expect(page.locator("#verify .badge").first).to_have_text("ok")

    shot = tmp_path / "status.png"
    page.screenshot(path=shot, full_page=True)
    shutil.copy(shot, SCREENSHOT_COPY)
    print(f"status page screenshot: {shot} (and {SCREENSHOT_COPY})")

    # The token stays in the tab: no cookie, and a reload does not ask again.
    assert page.evaluate("sessionStorage.getItem('migrateway.token')") == FULL
    assert page.context.cookies() == []
    page.reload()
    expect(page.locator("#where dd").nth(0)).to_have_text(MAIN)
    expect(page.locator("#login")).to_be_hidden()

    # Only the service was asked, only reads were made, and the token went to its API alone.
    assert recorder.outside(server.url) == []
    api_calls = [(m, u, a) for m, u, a in recorder.requests if not _page_file(server.url, u)]
    writes = {(m, u.removeprefix(server.url)) for m, u, _ in api_calls if m != "GET"}
    assert writes == {("POST", "/plan")}
    paths = {u.removeprefix(server.url) for _, u, _ in api_calls}
    assert {"/current", "/operations?limit=10", "/revisions/graph?format=svg", "/verify"} <= paths
    assert {a for _, _, a in api_calls} == {"Bearer mgw_not-a-token-anyone-made", f"Bearer {FULL}"}
    assert all(a is None for _, u, a in recorder.requests if _page_file(server.url, u))
    assert server.get("/current").json()["current"] == [MAIN]
    assert server.get("/operations").json()["total"] == 3  # the page recorded nothing


def test_blocking_plan_and_the_graph_as_dot_without_graphviz(
    migrations, database_url, start_server, browser, tmp_path
):
    """A read-only token is enough; a step that would destroy rows is highlighted; without an
    SVG renderer the graph is its DOT text, under the problem that says why."""
    # Markup in a revision message is shown as text, never made into elements.
    message = "drop <b>audit"
    migrations.add(DROP, TIP, message=message, upgrade=f"op.drop_table({table(MAIN)!r})")
    server = start_server({"GRAPHVIZ_DOT": "/nonexistent/dot"})
    assert server.post("/upgrade", json={"target": MAIN}).status_code == 200
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {table(MAIN)} (id) VALUES (1)"))
    engine.dispose()

    page = new_page(browser)
    recorder = Recorder(page)
    sign_in(page, server.url, READER)

    blocking = page.locator("#plan table.steps tbody tr.blocking")
    expect(blocking).to_have_count(1)
    expect(blocking.locator("td").nth(1)).to_have_text(DROP)
    expect(blocking.locator("td").nth(2)).to_have_text(message)
    expect(page.locator("#plan b")).to_have_count(0)
    expect(blocking.locator("li.blocking .badge")).to_have_text("blocking")
    expect(page.locator("#plan")).to_contain_text("1 blocking")

    graph = page.locator("#graph")
    expect(graph.locator(".problem")).to_contain_text("The SVG renderer is not installed")
    expect(graph.locator("#graph-dot")).to_contain_text("digraph")
    expect(graph.locator("#graph-dot")).to_contain_text(BASE)
    expect(page.locator("#operations tbody tr").first).to_contain_text("tester")
    shot = tmp_path / "status-blocking.png"
    page.screenshot(path=shot, full_page=True)
    print(f"status page screenshot: {shot}")
    assert recorder.outside(server.url) == []
    assert server.get("/current").json()["current"] == [MAIN]


def test_with_two_heads_the_plan_is_of_the_upgrade_to_both(migrations, start_server, browser):
    """Pending is what `upgrade heads` runs; with two heads, the page plans that upgrade, not
    one to 'head' (which answers 409: several heads match it)."""
    migrations.add(HOTFIX, SECOND, message="hotfix")  # a second head, beside TIP
    server = start_server()
    assert server.post("/upgrade", json={"target": SECOND}).status_code == 200
    state = server.get("/current").json()
    assert set(state["heads"]) == {TIP, HOTFIX} and len(state["pending"]) == 5

    page = new_page(browser)
    sign_in(page, server.url, READER)
    steps = page.locator("#plan table.steps tbody tr")
    expect(steps).to_have_count(5)
    planned = {steps.nth(i).locator("td").nth(1).inner_text() for i in range(5)}
    assert planned == set(state["pending"])
    expect(page.locator("#plan .problem")).to_have_count(0)
    expect(page.locator("#where")).to_contain_text("5 pending")


def _page_file(origin: str, url: str) -> bool:
    """The page and its script and style (which carry no token), not an API call."""
    path = url.removeprefix(origin)
    return path == "/" or path.startswith("/status-page/") or url.startswith("blob:")
