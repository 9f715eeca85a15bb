"""The docs pages in a real browser: Debian's Chromium, driven by Playwright, on a live server.

Every request a page makes is recorded: none may leave the server under test. Without
/usr/bin/chromium these tests are skipped, except under CI (CI set), where they fail: .ci/run
installs Chromium, so a skip there would hide a broken install step.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from tests.live_server import ROOT, Server
from tests.test_openapi import OPERATIONS

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Chromium's own calls home (updates, safe browsing, metrics) would leave the machine.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# operationId -> its tag, as Swagger UI groups operations by tag
TAGS = {
    operation["operationId"]: operation["tags"][0]
    for item in json.loads((ROOT / "openapi" / "openapi.json").read_text())["paths"].values()
    for method, operation in item.items()
    if method != "parameters"
}
TIMEOUT_MS = 30_000  # two shared cores: rendering may be slow, never this slow
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run should have installed it")
        pytest.skip(f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh page that must request nothing but the server under test, and raise no error."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[Request] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert requested, "the page requested nothing"
    local = (f"{server.url}/", f"blob:{server.url}/", "data:")
    outside = {
        request.url: request.failure for request in requested if not request.url.startswith(local)
    }
    # The pages' Content-Security-Policy makes the browser refuse such a request before it is sent.
    assert outside == dict.fromkeys(outside, "csp")
    assert errors == []


def test_swagger_ui_renders_every_operation(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/docs")

    for operation_id in OPERATIONS.values():
        tag = TAGS[operation_id]
        expect(page.locator(f"#operations-{tag}-{operation_id}")).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(len(OPERATIONS))
    expect(page.locator(".contract-links a[href='/openapi-3.0.yaml']")).to_be_visible()


def test_swagger_ui_try_it_out_lists_users_from_this_server(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/docs")
    operation = page.locator("#operations-users-listUsers")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(operation.locator(".request-url")).to_contain_text(f"{server.url}/api/v1/users")
    expect(live).to_contain_text('"page_size": 20')


def test_swagger_ui_shows_the_openapi_3_0_document_too(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/docs")
    expect(page.locator("#operations-users-listUsers")).to_be_visible()

    with page.expect_response(f"{server.url}/openapi-3.0.json"):
        page.locator(".topbar select").select_option(label="OpenAPI 3.0.3")

    expect(page.locator(".info .version-stamp")).to_contain_text("OAS 3.0")
    expect(page.locator(".opblock")).to_have_count(len(OPERATIONS))


def test_redoc_renders_every_operation(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/redoc")

    for operation_id in OPERATIONS.values():
        expect(page.locator(f"[id='operation/{operation_id}']")).to_be_attached()
    heading = page.locator("[id='operation/listUsers'] h2").first
    expect(heading).to_contain_text("List users")
    expect(heading).to_be_visible()
    expect(page.locator(".contract-links a[href='/docs']")).to_be_visible()
