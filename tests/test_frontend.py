"""The frontend's pages, with the users API stubbed at the transport level (httpx)."""

import html
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from frontend import create_app

USER = {
    "id": "0123456789abcdef01234567",
    "name": "Priyanshu",
    "email": "priyanshu@example.com",
    "role": "DevOps Engineer",
    "skills": ["Docker", "AWS"],
    "experience": {"years": 5, "companies": ["Company A"]},
    "active": True,
    "created_at": "2024-01-15T00:00:00.000Z",
    "updated_at": "2024-01-15T00:00:00.000Z",
}


def problem(status: int, code: str, errors: dict[str, list[str]] | None = None) -> httpx.Response:
    body = {
        "type": "about:blank",
        "title": "x",
        "status": status,
        "detail": f"{code} detail",
        "instance": "/",
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


class FakeApi:
    """The API's contract for one stored user; `answer` overrides the next answers."""

    def __init__(self) -> None:
        self.users = {USER["id"]: dict(USER)}
        self.version = 1
        self.requests: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answer is not None:
            return self.answer(request)
        path, method = request.url.path, request.method
        if path == "/api/v1/users" and method == "GET":
            users = list(self.users.values())
            page, size = int(request.url.params["page"]), int(request.url.params["page_size"])
            return httpx.Response(
                200,
                json={
                    "items": users[(page - 1) * size : page * size],
                    "page": page,
                    "page_size": size,
                    "total": len(users),
                    "next_cursor": None,
                },
            )
        if path == "/api/v1/users" and method == "POST":
            user = {**json.loads(request.content), "id": "fedcba9876543210fedcba98"}
            self.users[user["id"]] = user
            return httpx.Response(201, json=user, headers={"ETag": '"1"'})
        user_id = path.rsplit("/", 1)[-1]
        if user_id not in self.users:
            return problem(404, "not_found")
        if method == "GET":
            return httpx.Response(
                200, json=self.users[user_id], headers={"ETag": f'"{self.version}"'}
            )
        if request.headers.get("If-Match") != f'"{self.version}"':
            return problem(412, "precondition_failed")
        if method == "DELETE":
            del self.users[user_id]
            return httpx.Response(204)
        self.version += 1
        self.users[user_id] = {**self.users[user_id], **json.loads(request.content)}
        return httpx.Response(200, json=self.users[user_id], headers={"ETag": f'"{self.version}"'})

    def add_users(self, count: int) -> None:
        for number in range(count):
            user_id = f"{number:024x}"
            self.users[user_id] = {
                **USER,
                "id": user_id,
                "name": f"User {number}",
                "email": f"user{number}@example.com",
            }

    def last(self, method: str) -> httpx.Request:
        return [request for request in self.requests if request.method == method][-1]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def frontend(api: FakeApi) -> Flask:
    return create_app({"FRONTEND_SECRET_KEY": "test"}, transport=httpx.MockTransport(api))


@pytest.fixture
def browser(frontend: Flask) -> FlaskClient:
    return frontend.test_client()


def submit(browser: FlaskClient, url: str, **fields: Any) -> Any:
    """Fill the form at `url` like a person: its CSRF token and ETag, plus `fields`."""
    page = browser.get(url).text
    hidden = re.findall(r'<input[^>]*name="(csrf_token|etag)"[^>]*value="([^"]*)"', page)
    data = {name: html.unescape(value) for name, value in hidden}  # as a browser reads them
    return browser.post(url, data={**data, **fields})


def test_the_list_shows_users_and_escapes_their_data(browser: FlaskClient, api: FakeApi) -> None:
    api.users[USER["id"]]["name"] = "<script>alert(1)</script>"

    page = browser.get("/users").text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "priyanshu@example.com" in page


def test_filters_and_paging_go_to_the_api_as_query_arguments(
    browser: FlaskClient, api: FakeApi
) -> None:
    api.add_users(30)

    browser.get("/users?q=pri&role=SRE&active=true&skill=Go&sort=name&page=3&page_size=10&x=y")

    params = dict(api.last("GET").url.params)
    assert params == {
        "q": "pri",
        "role": "SRE",
        "active": "true",
        "skill": "Go",
        "sort": "name",
        "page": "3",
        "page_size": "10",
    }


def test_creating_a_user_sends_the_document_and_shows_it(
    browser: FlaskClient, api: FakeApi
) -> None:
    response = submit(
        browser,
        "/users/new",
        name="Ada",
        email="ada@example.com",
        role="SRE",
        skills="Go, Rust ,",
        years="7",
        companies="Acme",
        active="y",
    )

    assert response.status_code == 302
    assert json.loads(api.last("POST").content) == {
        "name": "Ada",
        "email": "ada@example.com",
        "role": "SRE",
        "skills": ["Go", "Rust"],
        "active": True,
        "experience": {"years": 7, "companies": ["Acme"]},
    }
    page = browser.get(response.headers["Location"]).text
    assert "Created Ada." in page


def test_the_apis_validation_messages_appear_next_to_their_fields(
    browser: FlaskClient, api: FakeApi
) -> None:
    api.answer = lambda _: problem(
        422,
        "validation_failed",
        {
            "name": ["Must not be blank."],
            "experience.years": ["Not a valid integer."],
            "_schema": ["Odd."],
        },
    )

    response = submit(browser, "/users/new", name="Ada", email="a@example.com", years="many")

    assert response.status_code == 422
    page = response.text
    assert re.search(r'id="name-errors">\s*<li>Must not be blank.</li>', page)
    assert re.search(r'id="years-errors">\s*<li>Not a valid integer.</li>', page)
    assert "Odd." in page
    assert json.loads(api.last("POST").content)["experience"] == {"years": "many"}


def test_a_duplicate_email_is_shown_at_the_email_field(browser: FlaskClient, api: FakeApi) -> None:
    api.answer = lambda _: problem(409, "email_taken", {"email": ["Already in use."]})

    response = submit(browser, "/users/new", name="Ada", email="priyanshu@example.com")

    assert response.status_code == 409
    assert re.search(
        r'id="email-errors">\s*<li>Another user already has this email.</li>', response.text
    )
    assert 'value="Ada"' in response.text  # what was typed is kept


def test_editing_sends_the_etag_and_a_concurrent_change_is_reported(
    browser: FlaskClient, api: FakeApi
) -> None:
    url = f"/users/{USER['id']}/edit"
    saved = submit(browser, url, name="Priya", email=USER["email"], active="y")
    assert saved.status_code == 302
    assert api.last("PUT").headers["If-Match"] == '"1"'
    assert api.users[USER["id"]]["name"] == "Priya"

    page = browser.get(url).text
    api.version += 1  # someone else saves meanwhile
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    stale = browser.post(
        url, data={"csrf_token": token, "etag": '"2"', "name": "Mine", "email": USER["email"]}
    )

    assert stale.status_code == 409
    assert "Someone else changed this user" in stale.text
    assert api.users[USER["id"]]["name"] == "Priya"


def test_deleting_asks_for_confirmation_then_deletes(browser: FlaskClient, api: FakeApi) -> None:
    url = f"/users/{USER['id']}/delete"
    assert "cannot be undone" in browser.get(url).text
    assert not [request for request in api.requests if request.method == "DELETE"]

    response = submit(browser, url)

    assert response.status_code == 302
    assert api.last("DELETE").headers["If-Match"] == '"1"'
    assert USER["id"] not in api.users
    assert "Deleted Priyanshu." in browser.get(response.headers["Location"]).text


@pytest.mark.parametrize(
    "url", ["/users/new", f"/users/{USER['id']}/edit", f"/users/{USER['id']}/delete"]
)
def test_every_form_needs_its_csrf_token(browser: FlaskClient, api: FakeApi, url: str) -> None:
    response = browser.post(url, data={"name": "X", "email": "x@example.com", "etag": '"1"'})

    assert response.status_code == 400
    assert "Form expired" in response.text
    assert [request.method for request in api.requests if request.method != "GET"] == []


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
        lambda _: problem(503, "database_unavailable"),
    ],
)
def test_an_unavailable_api_gives_a_friendly_503_page(
    browser: FlaskClient, api: FakeApi, failure: Any
) -> None:
    api.answer = failure

    for url in ["/users", f"/users/{USER['id']}", "/users/new"]:
        response = (
            browser.get(url)
            if url != "/users/new"
            else submit(browser, url, name="A", email="a@example.com")
        )
        assert response.status_code == 503
        assert "not answering right now" in response.text
        assert "Traceback" not in response.text


def test_an_unknown_user_is_a_404_page(browser: FlaskClient) -> None:
    response = browser.get("/users/0123456789abcdef0123456f")

    assert response.status_code == 404
    assert "no such user" in response.text
