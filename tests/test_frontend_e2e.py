"""Both services as processes, the frontend driven in headless Chromium (Playwright)."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.live_server import Server, start_frontend, start_server

pytestmark = pytest.mark.live

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("e2e")
    api = start_server(logs)
    frontend = start_frontend(logs, api.url)
    yield frontend
    frontend.stop()
    api.stop()


@pytest.fixture
def page(frontend: Server) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed: apt-get install -y chromium (.ci/run installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=frontend.url)
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if urlsplit(request.url).hostname != "127.0.0.1"
                else None
            ),
        )
        yield page
        browser.close()
        assert outside == [], f"the pages fetched from outside the machine: {outside}"


def fill_user(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        page.fill(f"#{name}", value)


def test_create_find_edit_refuse_a_duplicate_and_delete(page: Page, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"

    page.goto("/users/new")
    fill_user(
        page,
        name="Grace Hopper",
        email="grace@example.com",
        role="Admiral",
        skills="COBOL, Compilers",
        years="40",
        companies="US Navy",
    )
    page.screenshot(path=shots / "1-create-form.png", full_page=True)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Grace Hopper")
    expect(page.locator(".flash.success")).to_have_text("Created Grace Hopper.")
    expect(page.locator("dl")).to_contain_text("COBOL, Compilers")
    page.screenshot(path=shots / "2-created.png", full_page=True)

    page.goto("/users")
    page.fill("input[name=q]", "GRACE")
    page.click("text=Filter")
    expect(page.locator(".count")).to_have_text("1 user")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.screenshot(path=shots / "3-list-filtered.png", full_page=True)

    page.click("text=Grace Hopper")
    page.click("text=Edit")
    fill_user(page, role="Rear Admiral")
    page.click("button[type=submit]")
    expect(page.locator(".flash.success")).to_have_text("Saved Grace Hopper.")
    expect(page.locator("dl")).to_contain_text("Rear Admiral")
    page.screenshot(path=shots / "4-edited.png", full_page=True)

    page.goto("/users/new")
    fill_user(page, name="Ada Lovelace", email="ada@example.com")
    page.click("button[type=submit]")
    page.click("text=Edit")
    fill_user(page, email="Grace@Example.com")
    page.click("button[type=submit]")
    expect(page.locator("#email-errors")).to_have_text("Another user already has this email.")
    expect(page.locator("#email")).to_have_value("Grace@Example.com")
    page.screenshot(path=shots / "5-duplicate-email.png", full_page=True)

    page.goto("/users?q=grace")
    page.click("text=Grace Hopper")
    page.click("text=Delete")
    expect(page.locator("h1")).to_have_text("Delete Grace Hopper?")
    page.screenshot(path=shots / "6-confirm-delete.png", full_page=True)
    page.click("button[type=submit]")
    expect(page.locator(".flash.success")).to_have_text("Deleted.")
    page.fill("input[name=q]", "grace")
    page.click("text=Filter")
    expect(page.locator(".count")).to_have_text("0 users")
    page.screenshot(path=shots / "7-deleted.png", full_page=True)

    assert len(list(shots.glob("*.png"))) == 7


def test_user_data_is_rendered_as_text(page: Page) -> None:
    page.goto("/users/new")
    fill_user(page, name="<script>window.hacked = 1</script><b>bold</b>", email="xss@example.com")
    page.click("button[type=submit]")

    expect(page.locator("h1")).to_have_text("<script>window.hacked = 1</script><b>bold</b>")
    assert page.evaluate("window.hacked") is None
    assert page.locator("h1 b").count() == 0
