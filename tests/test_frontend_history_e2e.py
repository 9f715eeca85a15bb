"""The history, trash and dashboard pages, both services as processes, driven in Chromium."""

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests import test_frontend_e2e as e2e
from tests.live_server import Server

pytestmark = e2e.pytestmark
# The fixtures of the frontend's Chromium tests: both services, a browser, a desktop and a phone.
api, frontend, chromium, page, phone = e2e.api, e2e.frontend, e2e.chromium, e2e.page, e2e.phone


def shot(page: Page, path: Path) -> None:
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 5_000  # a rendered page, not a blank one


def test_history_shows_each_change_and_restores_a_version_after_confirmation(
    page: Page, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    page.goto("/users/new")
    page.fill("#name", "Hedy Lamarr")
    page.fill("#email", "hedy@example.com")
    page.fill("#role", "Actress")
    page.fill("#skills", "Acting")
    page.click("button[type=submit]")
    page.click("text=Edit")
    page.fill("#role", "Inventor")
    page.fill("#skills", "Acting, Frequency hopping")
    page.click("button[type=submit]")
    expect(page.locator(".flash.success")).to_have_text("Saved Hedy Lamarr.")

    history = page.locator("section[aria-labelledby=history-heading]")
    expect(history).to_contain_text("2 versions kept")
    newest = history.locator(".version").first
    expect(newest).to_contain_text("Version 2")
    expect(newest).to_contain_text("current")
    expect(newest.locator("del").first).to_have_text("Actress")
    expect(newest.locator("ins").first).to_have_text("Inventor")
    shot(page, shots / "1-user-with-history.png")

    page.click("text=Restore this version")
    expect(page.locator("h1")).to_have_text("Restore version 1 of Hedy Lamarr?")
    expect(page.locator("table.diff")).to_contain_text("Inventor")
    shot(page, shots / "2-confirm-restore.png")
    page.click("button[type=submit]")

    expect(page.locator(".flash.success")).to_have_text("Restored version 1 of Hedy Lamarr.")
    expect(page.locator("dl")).to_contain_text("Actress")
    expect(history.locator(".version").first).to_contain_text("an earlier version restored")
    page.click("text=Whole history")
    expect(page.locator(".version")).to_have_count(3)
    shot(page, shots / "3-whole-history.png")


def test_a_deleted_user_is_in_the_trash_and_comes_back(page: Page, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    page.goto("/users/new")
    page.fill("#name", "Margaret Hamilton")
    page.fill("#email", "margaret@example.com")
    page.click("button[type=submit]")
    page.click("text=Delete")
    expect(page.locator("main")).to_contain_text("trash")
    page.click("button[type=submit]")

    page.click("nav.site >> text=Trash")
    row = page.locator("tbody tr", has_text="Margaret Hamilton")
    expect(row).to_have_count(1)
    shot(page, shots / "1-trash.png")
    row.locator("button", has_text="Restore").click()

    expect(page.locator(".flash.success")).to_have_text("Restored Margaret Hamilton.")
    expect(page.locator("h1")).to_have_text("Margaret Hamilton")
    expect(page.locator(".version").first).to_contain_text("restored from the trash")
    page.goto("/trash")
    expect(page.locator("tbody tr", has_text="Margaret Hamilton")).to_have_count(0)


def test_the_dashboard_draws_charts_with_their_numbers_in_tables(
    page: Page, api: Server, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for number, (role, skills, years) in enumerate(
            [("Chart SRE", ["Go", "AWS"], 3), ("Chart SRE", ["Go"], 12), ("Chart Dev", [], 1)]
        ):
            client.post(
                "/api/v1/users",
                json={
                    "name": f"Chart {number}",
                    "email": f"chart.{number}@example.com",
                    "role": role,
                    "skills": skills,
                    "experience": {"years": years},
                },
            ).raise_for_status()

    page.goto("/dashboard?skill=Go")
    expect(page.locator("p.count")).to_have_text("2 users match these filters.")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(6)
    for index in range(6):
        chart = charts.nth(index)
        assert chart.get_attribute("role") == "img"
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 200
    roles = page.locator("#roles-table")
    expect(roles.locator("tbody tr")).to_have_count(1)
    expect(roles).to_contain_text("Chart SRE")
    expect(page.locator("#experience-table tbody tr")).to_have_count(6)
    # Each bar is written with its count: the chart reads without telling colours apart.
    expect(page.locator("section[aria-labelledby=roles-heading] svg text.count")).to_have_text("2")
    shot(page, shots / "1-dashboard.png")
    page.emulate_media(forced_colors="active")  # high contrast: the page's colours are gone
    shot(page, shots / "2-dashboard-forced-colors.png")


def test_the_new_pages_fit_a_phone(phone: Page, tmp_path: Path) -> None:
    for name, url in [("trash", "/trash"), ("dashboard", "/dashboard")]:
        phone.goto(url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} scrolls sideways ({width} px)"
        shot(phone, tmp_path / f"{name}.png")
