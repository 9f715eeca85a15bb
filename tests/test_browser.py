"""The docs pages in a real browser: Debian's Chromium, driven by Playwright, on a live server.

Every request a page makes is recorded: none may leave the server under test. Without
/usr/bin/chromium these tests are skipped, except under CI (CI set), where they fail: .ci/run
installs Chromium, so a skip there would hide a broken install step.
"""

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Request, expect, sync_playwright

from tests.conftest import USERS
from tests.live_server import ROOT, Server, start_server
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
    # Not even one the pages' Content-Security-Policy would refuse: none is attempted.
    assert [request.url for request in requested if not request.url.startswith(local)] == []
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
    expect(page.locator("[id='operation/createUser']")).to_contain_text("Job title")
    # The text rule is said once in the description, not as its pattern under every field.
    assert "\\u1680" not in page.locator("body").inner_text()  # in the text rule


def test_swagger_ui_padlocks_say_which_operations_need_a_key(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/docs")

    def padlock(operation_id: str) -> Locator:
        return page.locator(f"#operations-{TAGS[operation_id]}-{operation_id} .authorization__btn")

    # Reads need no key unless the server says so: open. Writes need one: locked.
    for operation_id in ("listUsers", "getUser", "legacyListUsers"):
        expect(padlock(operation_id)).to_have_attribute("aria-label", re.compile("^Open"))
        expect(padlock(operation_id).locator("svg")).to_have_class("unlocked")
    for operation_id in ("createUser", "updateUser", "deleteUser"):
        expect(padlock(operation_id)).to_have_attribute("aria-label", re.compile("^Locked"))
        expect(padlock(operation_id).locator("svg")).to_have_class("locked")
    expect(page.locator(".btn.authorize")).to_have_attribute("title", re.compile("writes need"))

    page.locator(".btn.authorize").click()
    page.locator(".auth-container input").fill("a-key")
    page.locator(".auth-btn-wrapper .authorize").click()
    page.locator(".btn-done").click()
    expect(padlock("createUser")).to_have_attribute("aria-label", re.compile("^Open"))
    expect(page.locator(".btn.authorize")).to_have_attribute("title", re.compile("is set"))


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own, holding three users (none with an email of the spec's examples)."""
    server = start_server(tmp_path)
    for number in range(3):
        user = {"name": f"Seeded {number}", "email": f"seeded.{number}@example.org"}
        assert httpx.post(f"{server.url}{USERS}", json=user).status_code == 201
    yield server
    server.stop()


# Every operation in the order a person might try them, with the status of its plain success
# and, for operations on one user, which user's id goes in the path: one already there, or
# the one createUser made (deleted, then restored from the trash, last). The version operations
# take version 1, which every user has.
CLICK_THROUGH = [
    ("listUsers", "200", None),
    ("getUser", "200", "seeded"),
    ("createUser", "201", None),
    ("createUsers", "200", None),
    ("replaceUser", "200", "created"),
    ("updateUser", "200", "created"),
    ("addUserSkill", "200", "created"),
    ("removeUserSkill", "200", "created"),
    ("listUserVersions", "200", "created"),
    ("getUserVersion", "200", "created"),
    ("restoreUserVersion", "200", "created"),
    ("deleteUser", "204", "created"),
    ("restoreUser", "200", "created"),
    ("getUserStats", "200", None),
    ("getLiveness", "200", None),
    ("getReadiness", "200", None),
    ("getMetrics", "200", None),
    ("legacyAddUser", "201", None),
    ("legacyListUsers", "200", None),
    ("legacyGetUser", "200", "seeded"),
]


def execute(page: Page, operation_id: str, user_id: str | None) -> Locator:
    """Open the operation, "Try it out", fill in the path id if any, "Execute"; the response."""
    operation = page.locator(f"#operations-{TAGS[operation_id]}-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    if user_id is not None:
        operation.locator("tr[data-param-name='user_id'] input").fill(user_id)
    if "Version" in operation_id and operation_id != "listUserVersions":
        operation.locator("tr[data-param-name='version'] input").fill("1")
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).not_to_have_text("")
    return operation


@pytest.mark.parametrize("document", ["OpenAPI 3.1.0", "OpenAPI 3.0.3"])
def test_try_it_out_gives_every_operation_its_plain_success_untouched(
    browser: Browser, fresh_server: Server, document: str
) -> None:
    assert {operation_id for operation_id, _, _ in CLICK_THROUGH} == set(OPERATIONS.values())
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{fresh_server.url}/docs")
    expect(page.locator("#operations-users-listUsers")).to_be_visible()
    if document != "OpenAPI 3.1.0":
        page.locator(".topbar select").select_option(label=document)
        expect(page.locator(".info .version-stamp")).to_contain_text("OAS 3.0")
    seeded = httpx.get(f"{fresh_server.url}{USERS}").json()["items"][0]["id"]
    created = None

    for operation_id, status, whose in CLICK_THROUGH:
        user_id = {"seeded": seeded, "created": created, None: None}[whose]
        operation = execute(page, operation_id, user_id)
        live = operation.locator(".live-responses-table")
        expect(live.locator("tbody .response-col_status")).to_have_text(status)
        if operation_id == "listUsers":
            # No optional filter came pre-filled: the untouched list holds every user.
            expect(live).to_contain_text('"total": 3')
            url = operation.locator(".request-url").inner_text()
            assert url.split("?")[1] in {"page_size=20&include_total=true", ""}, url
        if operation_id == "createUser":
            created = json.loads(operation.locator(".live-responses-table pre").first.inner_text())[
                "id"
            ]
        if operation_id == "createUsers":
            expect(live).to_contain_text('"failed": 0')
    page.close()
