"""The history, trash and dashboard pages in process, over the real API (its WSGI app under
httpx's transport): what they show, what they send, and that user data stays text."""

import html
import re
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from flask.testing import FlaskClient

import frontend
from api import create_app as create_api
from frontend import charts, diffs

USERS = "/api/v1/users"


@pytest.fixture
def api() -> Iterator[flask.Flask]:
    app = create_api({})
    yield app
    app.extensions["store"].close()


@pytest.fixture
def backend(api: flask.Flask) -> FlaskClient:
    """The API itself, to arrange what the pages will show."""
    return api.test_client()


@pytest.fixture
def browser(api: flask.Flask) -> FlaskClient:
    app = frontend.create_app(
        {"FRONTEND_SECRET_KEY": "test", "BACKEND_URL": "http://api"},
        transport=httpx.WSGITransport(app=api),
    )
    return app.test_client()


def user(backend: FlaskClient, **fields: Any) -> dict[str, Any]:
    response = backend.post(USERS, json={"name": "Ada", "email": "ada@example.com", **fields})
    assert response.status_code == 201, response.json
    return response.json


def form_fields(page: str) -> dict[str, str]:
    hidden = re.findall(r'<input[^>]*name="(csrf_token|etag)"[^>]*value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in hidden}


def test_a_users_page_shows_each_change_against_the_version_before(
    browser: FlaskClient, backend: FlaskClient
) -> None:
    ada = user(backend, role="Analyst", skills=["Maths"])
    backend.patch(f"{USERS}/{ada['id']}", json={"role": "Programmer", "skills": ["Maths", "Notes"]})

    page = browser.get(f"/users/{ada['id']}").text

    assert "2 versions kept" in page
    assert "<del>Analyst</del>" in page
    assert "<ins>Programmer</ins>" in page
    assert "<ins>Maths, Notes</ins>" in page
    assert f"/users/{ada['id']}/versions/1/restore" in page
    assert f"/users/{ada['id']}/versions/2/restore" not in page  # the current one


def test_restoring_a_version_asks_then_sends_the_etag_it_showed(
    browser: FlaskClient, backend: FlaskClient
) -> None:
    ada = user(backend, role="Analyst")
    backend.patch(f"{USERS}/{ada['id']}", json={"role": "Programmer"})
    url = f"/users/{ada['id']}/versions/1/restore"

    confirm = browser.get(url).text
    assert "Restore version 1 of Ada?" in confirm
    assert "<del>Programmer</del>" in confirm
    fields = form_fields(confirm)
    assert browser.post(url, data={"etag": fields["etag"]}).status_code == 400  # no CSRF token
    backend.patch(f"{USERS}/{ada['id']}", json={"active": False})  # changed meanwhile
    stale = browser.post(url, data=fields, follow_redirects=True).text
    assert "changed since you opened the page" in stale
    assert backend.get(f"{USERS}/{ada['id']}").json["role"] == "Programmer"

    fresh = form_fields(browser.get(url).text)
    done = browser.post(url, data=fresh, follow_redirects=True).text

    assert "Restored version 1 of Ada." in done
    assert backend.get(f"{USERS}/{ada['id']}").json["role"] == "Analyst"


def test_the_trash_lists_and_restores(browser: FlaskClient, backend: FlaskClient) -> None:
    ada = user(backend)
    backend.delete(f"{USERS}/{ada['id']}")
    page = browser.get("/trash").text
    assert "1 deleted user" in page
    token = form_fields(page)["csrf_token"]
    user(backend)  # the email is taken again meanwhile

    refused = browser.post(
        f"/trash/{ada['id']}/restore", data={"csrf_token": token}, follow_redirects=True
    ).text
    assert "another user has this email now" in refused

    other = backend.get(USERS).json["items"][0]
    backend.delete(f"{USERS}/{other['id']}")
    done = browser.post(
        f"/trash/{ada['id']}/restore", data={"csrf_token": token}, follow_redirects=True
    ).text
    assert "Restored Ada." in done
    again = browser.post(
        f"/trash/{ada['id']}/restore", data={"csrf_token": token}, follow_redirects=True
    ).text
    assert "no longer holds this user" in again


def test_the_dashboard_tables_hold_the_charts_numbers(
    browser: FlaskClient, backend: FlaskClient
) -> None:
    for number, role in enumerate(["SRE", "SRE", "Dev"]):
        user(backend, email=f"u{number}@example.com", role=role, experience={"years": number})

    page = browser.get("/dashboard").text
    roles_table = page.split('id="roles-table"', 1)[1].split("</table>", 1)[0]

    assert page.count('<svg class="chart" role="img"') == 6
    assert re.findall(r'<th scope="row">([^<]*)</th><td>(\d+)</td>', roles_table) == [
        ("SRE", "2"),
        ("Dev", "1"),
    ]
    refused = browser.get("/dashboard?role=%00").text
    assert "Those filters were refused" in refused


def test_user_data_stays_text_on_every_new_page(browser: FlaskClient, backend: FlaskClient) -> None:
    hostile = '<script>alert(1)</script>"&'
    bad = user(backend, name=hostile, role=hostile, skills=[hostile])
    backend.patch(f"{USERS}/{bad['id']}", json={"role": "x"})
    pages = [
        browser.get(f"/users/{bad['id']}").text,
        browser.get(f"/users/{bad['id']}/history").text,
        browser.get(f"/users/{bad['id']}/versions/1/restore").text,
        browser.get("/dashboard").text,
    ]
    backend.delete(f"{USERS}/{bad['id']}")
    pages.append(browser.get("/trash").text)

    for page in pages:
        assert "<script" not in page
        assert "&lt;script&gt;" in page
        assert "style=" not in page


def test_unknown_users_and_versions_are_404_pages(
    browser: FlaskClient, backend: FlaskClient
) -> None:
    ada = user(backend)
    missing = "0123456789abcdef01234567"

    assert browser.get(f"/users/{missing}/history").status_code == 404
    assert browser.get(f"/users/{ada['id']}/versions/9/restore").status_code == 404
    assert browser.get(f"/users/{ada['id']}/versions/{'9' * 30}/restore").status_code == 404
    assert browser.get("/users/nothex/history").status_code == 404


def test_a_chart_names_every_bar_with_its_count_and_escapes_labels() -> None:
    svg = str(charts.bar_chart("c", "Roles", [("<b>", 3), ("SRE", 1)]))

    assert svg.startswith('<svg class="chart" role="img" aria-labelledby="c-title c-desc"')
    assert '<title id="c-title">Roles</title>' in svg
    assert "&lt;b&gt;: 3; SRE: 1" in svg  # the description a screen reader reads
    assert re.findall(r'class="count"[^>]*>(\d+)<', svg) == ["3", "1"]
    assert "<b>" not in svg
    empty = str(charts.column_chart("e", "Months", []))
    assert "No data" in empty


def test_a_diff_lists_the_fields_that_changed() -> None:
    before = {"name": "Ada", "email": "a@x.io", "skills": ["Maths"], "experience": {"years": 1}}
    after = {"name": "Ada", "email": "a@x.io", "skills": [], "active": False}

    assert diffs.changes(before, after) == [
        {"field": "Skills", "before": "Maths", "after": None},
        {"field": "Years of experience", "before": "1", "after": None},
        {"field": "Active", "before": None, "after": "no"},
    ]
    assert [change["field"] for change in diffs.changes(None, after)] == ["Name", "Email", "Active"]
