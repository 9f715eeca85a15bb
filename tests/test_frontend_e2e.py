"""Both services as processes, the frontend driven in headless Chromium (Playwright)."""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.security import new_api_key
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
TIMEOUT_MS = 30_000  # two shared cores: rendering may be slow, never this slow
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    api = start_server(tmp_path_factory.mktemp("e2e-api"))
    yield api
    api.stop()


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory, api: Server) -> Iterator[Server]:
    frontend = start_frontend(tmp_path_factory.mktemp("e2e"), api.url)
    yield frontend
    frontend.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed: apt-get install -y chromium (.ci/run installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def watched(chromium: Browser, frontend: Server, **options: Any) -> Iterator[Page]:
    """A page that may fetch nothing from outside the machine and log no error (a CSP
    violation is one)."""
    context = chromium.new_context(base_url=frontend.url, **options)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    errors: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url) if urlsplit(request.url).hostname != "127.0.0.1" else None
        ),
    )
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert outside == [], f"the pages fetched from outside the machine: {outside}"
    # A page answered 4xx on purpose logs "Failed to load resource": only other errors count.
    assert [error for error in errors if "Failed to load resource" not in error] == []


@pytest.fixture
def page(chromium: Browser, frontend: Server) -> Iterator[Page]:
    with watched(chromium, frontend) as page:
        yield page


@pytest.fixture
def phone(chromium: Browser, frontend: Server) -> Iterator[Page]:
    """A 390 px wide touch screen (an iPhone 12 to 15)."""
    with watched(
        chromium,
        frontend,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ) as page:
        yield page


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
    expect(page.locator(".flash.success")).to_have_text("Deleted Grace Hopper.")
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


def add_users(api: Server, count: int, prefix: str) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for number in range(count):
            client.post(
                "/api/v1/users",
                json={
                    "name": f"{prefix} {number:02d}",
                    "email": f"{prefix.lower()}.{number:02d}@example.com",
                    "role": "Engineer",
                    "skills": ["Python"],
                },
            ).raise_for_status()


def test_page_numbers_page_size_and_readable_dates(page: Page, api: Server) -> None:
    add_users(api, 25, "Pager")

    page.goto("/users?q=pager")
    expect(page.locator(".count")).to_have_text("25 users")
    expect(page.locator("tbody tr")).to_have_count(20)
    page.select_option("select[name=page_size]", "10")
    page.click("text=Filter")
    expect(page.locator("tbody tr")).to_have_count(10)
    expect(page.locator(".pager ol a")).to_have_text(["1", "2", "3"])
    page.click(".pager ol a >> text=3")
    expect(page.locator(".pager [aria-current=page]")).to_have_text("3")
    expect(page.locator("tbody tr")).to_have_count(5)
    expect(page.locator("select[name=page_size]")).to_have_value("10")  # kept across pages

    added = page.locator("td[data-label=Added] time").first
    expect(added).to_have_text(re.compile(r"just now|\d+ minutes? ago"))
    expect(added).to_have_attribute(
        "title", re.compile(r"^\w+day \d{1,2} \w+ \d{4}, [\d:]{8}\.\d{3} UTC$")
    )


def test_an_empty_required_field_gets_one_message(page: Page) -> None:
    page.goto("/users/new")
    expect(page.locator("label[for=name] .required")).to_have_text("*")
    fill_user(page, name="   ", role="Tester")
    page.click("button[type=submit]")

    expect(page.locator("#name-errors li")).to_have_text(["This field is required."])
    expect(page.locator("#email-errors li")).to_have_text(["This field is required."])
    expect(page.locator("#role")).to_have_value("Tester")


def test_the_favicon_is_the_frontends_own(page: Page) -> None:
    page.goto("/users")
    href = page.locator("link[rel=icon]").get_attribute("href")

    for url in [href, "/favicon.ico"]:
        response = page.request.get(url or "")
        assert response.status == 200
        assert response.headers["content-type"].startswith("image/svg+xml")


LONG = "Maximilianus-Alexandros-Konstantinopoulos-Wolfeschlegelsteinhausen"


def no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def test_every_page_fits_a_390_px_screen(phone: Page, api: Server, tmp_path: Path) -> None:
    add_users(api, 11, "Phone")
    with httpx.Client(base_url=api.url, timeout=30) as client:
        long = client.post(
            "/api/v1/users",
            json={
                "name": f"{LONG} Phone",
                "email": f"{LONG.lower()}@a-very-long-subdomain.example.com",
                "role": "Principal Site Reliability Engineer",
                "skills": ["Kubernetes", "Terraform", "Observability", "PostgreSQL"],
                "experience": {"years": 12, "companies": [LONG, "Company B"]},
            },
        ).json()
    shots = tmp_path / "390px"
    pages = {
        "list": "/users?q=phone&page_size=10&page=1",
        "detail": f"/users/{long['id']}",
        "edit": f"/users/{long['id']}/edit",
        "delete": f"/users/{long['id']}/delete",
        "not-found": "/users/0123456789abcdef01234567",
    }
    for name, url in pages.items():
        phone.goto(url)
        phone.screenshot(path=shots / f"{name}.png", full_page=True)
        no_horizontal_overflow(phone)

    phone.goto("/users/new")
    phone.click("button[type=submit]")
    expect(phone.locator("#name-errors li")).to_have_text(["This field is required."])
    phone.screenshot(path=shots / "form-errors.png", full_page=True)
    no_horizontal_overflow(phone)
    checkbox, label = (
        phone.locator("#active").bounding_box(),
        phone.locator("label[for=active]").bounding_box(),
    )
    assert checkbox
    assert label
    assert checkbox["width"] < 40  # a box, not a bar
    assert 0 <= label["x"] - (checkbox["x"] + checkbox["width"]) < 20  # its label beside it

    phone.goto(pages["list"])
    card = phone.locator("tbody tr").first  # a card: its cells stacked, each labelled
    boxes = [cell.bounding_box() for cell in card.locator("td").all()]
    assert all(box and box["width"] > 300 for box in boxes)
    assert [box["y"] for box in boxes if box] == sorted(box["y"] for box in boxes if box)
    assert len(list(shots.glob("*.png"))) == 6


@pytest.mark.parametrize(
    ("scopes", "with_key", "warning"),
    [
        ("write", False, "the API requires an API key and API_KEY is not set"),
        ("read", True, "the key in API_KEY lacks the API's write scope"),
        ("write", "wrong", "the API does not know the key in API_KEY"),
        ("write", True, None),
    ],
)
def test_the_frontend_warns_at_start_up_when_the_api_will_refuse_its_writes(
    tmp_path: Path, scopes: str, with_key: bool | str, warning: str | None
) -> None:
    key, digest = new_api_key()
    api = start_server(tmp_path, API_KEYS=f"frontend:{scopes}:{digest}")
    sent_key = {True: key, "wrong": "not-" + key, False: ""}[with_key]
    frontend = start_frontend(tmp_path, api.url, API_KEY=sent_key)
    try:
        log = frontend.output()
        if warning is None:
            assert "API_KEY" not in log
            page = httpx.get(f"{frontend.url}/users/new", timeout=30)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
            assert token
            created = httpx.post(
                f"{frontend.url}/users/new",
                data={"csrf_token": token.group(1), "name": "Keyed", "email": "keyed@example.com"},
                cookies=page.cookies,
                timeout=30,
            )
            assert created.status_code == 302  # the key went with the write
        else:
            assert warning in log
            assert key not in log
    finally:
        frontend.stop()
        api.stop()
