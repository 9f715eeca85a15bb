"""The frontend's pages, with the users API stubbed at the transport level (httpx)."""

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from frontend import create_app
from frontend.client import UsersClient
from frontend.config import ConfigError, load_config
from tests.live_server import run_module

USER: dict[str, Any] = {
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
        return (self.answer or self.handle)(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The contract's answer to `request`."""
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
        if method in ("POST", "PUT"):
            years = json.loads(request.content).get("experience", {}).get("years", 0)
            if not isinstance(years, int):
                return problem(422, "validation_failed", {"experience.years": ["Not an integer."]})
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
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    stale = browser.post(
        url, data={"csrf_token": token, "etag": '"2"', "name": "Mine", "email": USER["email"]}
    )

    assert stale.status_code == 409
    assert "Someone else changed this user" in stale.text
    assert api.users[USER["id"]]["name"] == "Priya"


def test_deleting_asks_for_confirmation_then_deletes(browser: FlaskClient, api: FakeApi) -> None:
    url = f"/users/{USER['id']}/delete"
    assert "restored" in browser.get(url).text  # from the trash
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


def test_the_list_has_page_numbers_and_keeps_filters_and_page_size(
    browser: FlaskClient, api: FakeApi
) -> None:
    api.add_users(119)  # 120 users: 12 pages of 10

    page = browser.get("/users?page=6&page_size=10&role=SRE").text

    numbers = re.findall(r'<li><a (?:aria-current="page" )?href="([^"]+)"[^>]*>(\d+)</a>', page)
    assert [number for _, number in numbers] == ["1", "4", "5", "6", "7", "8", "12"]
    assert page.count("…") == 2
    assert re.search(r'aria-current="page"[^>]*>6<', page)
    for href, _ in numbers:
        assert "page_size=10" in href
        assert "role=SRE" in href
    assert re.search(r'<option value="10" selected>10</option>', page)
    assert "Page 6 of 12" in page
    assert dict(api.last("GET").url.params)["page_size"] == "10"


@pytest.mark.parametrize(
    ("asked", "sent"),
    [("50", "50"), ("100", "100"), ("7", "20"), ("1000", "20"), ("", "20"), ("ten", "20")],
)
def test_the_page_size_is_one_of_the_choices(
    browser: FlaskClient, api: FakeApi, asked: str, sent: str
) -> None:
    browser.get(f"/users?page_size={asked}")

    assert dict(api.last("GET").url.params)["page_size"] == sent


@pytest.mark.parametrize(
    "page", ["0", "-1", "x", "%C2%B2", "%D9%A3", "%EF%BC%93", "1.5", "1e3", " 2", "", "00"]
)
def test_a_page_that_is_no_number_is_the_first(
    browser: FlaskClient, api: FakeApi, page: str
) -> None:
    api.add_users(40)

    response = browser.get(f"/users?page={page}")

    assert response.status_code == 200
    assert dict(api.last("GET").url.params)["page"] == "1"


@pytest.mark.parametrize("page", ["3", "99", "9" * 30, "9" * 5000, "0000000000000000000003"])
def test_a_page_past_the_end_goes_to_the_last_page(
    browser: FlaskClient, api: FakeApi, page: str
) -> None:
    api.add_users(39)  # 40 users, 2 pages of 20

    response = browser.get(f"/users?page={page}&q=user")

    assert response.status_code == 302
    assert response.headers["Location"] == "/users?q=user&page=2"
    assert int(dict(api.last("GET").url.params)["page"]) <= 10_000_000  # the API's maximum


def test_dates_read_like_a_person_with_the_exact_instant_on_hover(
    browser: FlaskClient, api: FakeApi
) -> None:
    api.users[USER["id"]]["updated_at"] = "2024-03-05T14:07:09.120Z"

    page = browser.get(f"/users/{USER['id']}").text

    assert re.search(
        r'<time datetime="2024-01-15T00:00:00.000Z" '
        r'title="Monday 15 January 2024, 00:00:00.000 UTC">15 Jan 2024</time>',
        page,
    )
    assert 'title="Tuesday 5 March 2024, 14:07:09.120 UTC">5 Mar 2024</time>' in page
    assert "15 Jan 2024</time>" in browser.get("/users").text  # the list's Added column

    api.users[USER["id"]]["created_at"] = "0001-01-01T00:00:00+01:00"  # before year 1 in UTC
    response = browser.get(f"/users/{USER['id']}")
    assert response.status_code == 200
    assert "<dd>0001-01-01T00:00:00+01:00</dd>" in response.text


def test_recent_dates_are_relative() -> None:
    from frontend.display import instant

    now = datetime(2024, 1, 16, 12, 0, tzinfo=UTC)
    texts = {
        "2024-01-16T11:59:31Z": "just now",
        "2024-01-16T11:59:00Z": "1 minute ago",
        "2024-01-16T11:15:00Z": "45 minutes ago",
        "2024-01-16T01:00:00Z": "11 hours ago",
        "2024-01-15T09:30:00Z": "yesterday at 09:30 UTC",
        "2024-01-14T09:30:00Z": "14 Jan 2024",
        "2024-01-17T00:00:00Z": "17 Jan 2024",  # the API's clock ahead of ours
        "2024-01-16T14:00:00+02:00": "just now",
    }
    for value, text in texts.items():
        assert re.fullmatch(
            rf'<time datetime="[^"]+" title="[^"]+ UTC">{text}</time>', instant(value, now)
        ), value
    for odd in ["not a date <b>", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]:
        assert instant(odd, now) == odd.replace("<", "&lt;").replace(">", "&gt;")


def test_refused_filters_are_explained_once_on_any_page(browser: FlaskClient, api: FakeApi) -> None:
    api.answer = lambda _: problem(422, "validation_failed", {"active": ["Not a boolean."]})

    response = browser.get("/users?active=maybe&page=3")

    assert response.status_code == 200
    assert response.text.count("Those filters were refused") == 1
    assert "No users match." in response.text


def test_python_m_frontend_refuses_an_invalid_setting_by_name() -> None:
    result = run_module("frontend", env={"PORT": "http"})

    assert result.returncode == 2
    assert "PORT='http': must be a number" in result.stderr


def test_required_fields_are_marked_and_an_empty_one_gets_one_message(
    browser: FlaskClient, api: FakeApi
) -> None:
    form = browser.get("/users/new").text
    assert re.search(r'for="name">Name <span class="required" aria-hidden="true">\*</span>', form)
    assert re.search(r'<input[^>]*id="name"[^>]*required', form)
    assert re.search(r'<input[^>]*id="email"[^>]*required', form)
    assert not re.search(r'<input[^>]*id="role"[^>]*required', form)

    for blank in ["", "   ", "\t"]:
        response = submit(browser, "/users/new", name=blank, email="", role="SRE")
        assert response.status_code == 422
        for field in ("name", "email"):
            errors = re.search(rf'id="{field}-errors">(.*?)</ul>', response.text, re.S).group(1)
            assert re.findall(r"<li>(.*?)</li>", errors) == ["This field is required."]
        assert 'value="SRE"' in response.text
    assert [request.method for request in api.requests if request.method == "POST"] == []


def test_after_a_delete_the_list_names_who_was_deleted(browser: FlaskClient, api: FakeApi) -> None:
    api.users[USER["id"]]["name"] = "<b>Bob</b>"

    response = submit(browser, f"/users/{USER['id']}/delete")

    page = browser.get(response.headers["Location"]).text
    assert "Deleted &lt;b&gt;Bob&lt;/b&gt;." in page


def test_a_delete_of_a_user_changed_meanwhile_is_refused(
    browser: FlaskClient, api: FakeApi
) -> None:
    url = f"/users/{USER['id']}/delete"
    page = browser.get(url).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    api.version += 1

    response = browser.post(url, data={"csrf_token": token, "etag": '"1"'})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/users/{USER['id']}"
    assert "may have changed" in browser.get(response.headers["Location"]).text
    assert USER["id"] in api.users


@pytest.mark.parametrize(
    "url", ["/users", f"/users/{USER['id']}", "/users/new", "/nowhere", "/users/x/edit"]
)
def test_every_page_sends_the_security_headers(browser: FlaskClient, url: str) -> None:
    response = browser.get(url)

    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # the pages run no script at all
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_use_no_inline_style_or_script(browser: FlaskClient, api: FakeApi) -> None:
    api.add_users(30)
    pages = [
        browser.get(url).text
        for url in ["/users", f"/users/{USER['id']}", "/users/new", f"/users/{USER['id']}/delete"]
    ]

    for page in pages:
        assert "<script" not in page
        assert "style=" not in page
        assert "<style" not in page


def session_cookie(response: Any) -> str:
    return next(
        value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")
    )


def test_the_session_cookie_is_httponly_and_samesite_lax(browser: FlaskClient) -> None:
    cookie = session_cookie(browser.get("/users/new"))

    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back


def test_the_session_cookie_is_secure_over_https(frontend: Flask) -> None:
    cookie = session_cookie(frontend.test_client().get("/users/new", base_url="https://localhost"))

    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_behind_a_trusted_proxy_forwarded_https_makes_the_cookie_secure(api: FakeApi) -> None:
    def app(hops: int) -> FlaskClient:
        settings = {"FRONTEND_SECRET_KEY": "test", "TRUSTED_PROXY_HOPS": hops}
        return create_app(settings, transport=httpx.MockTransport(api)).test_client()

    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Secure" in session_cookie(app(1).get("/users/new", headers=forwarded))
    assert "Secure" not in session_cookie(app(0).get("/users/new", headers=forwarded))


def test_the_favicon_is_served_by_the_frontend(browser: FlaskClient) -> None:
    page = browser.get("/users/new").text
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page).group(1)

    for url in [link, "/favicon.ico"]:
        with browser.get(url) as response:
            assert response.status_code == 200
            assert response.mimetype == "image/svg+xml"
            assert response.data.startswith(b"<svg")
            assert "no-store" not in response.headers.get("Cache-Control", "")


def test_settings_come_from_the_environment_with_defaults() -> None:
    assert load_config({}) == {
        "HOST": "127.0.0.1",
        "PORT": 8080,
        "BACKEND_URL": "http://127.0.0.1:8000",
        "BACKEND_TIMEOUT_SECONDS": 5.0,
        "BACKEND_MAX_RESPONSE_BYTES": 4_194_304,
        "API_KEY": None,
        "FRONTEND_SECRET_KEY": None,
        "TRUSTED_PROXY_HOPS": 0,
    }
    config = load_config({"HOST": " 0.0.0.0 ", "PORT": "9090", "BACKEND_URL": "https://api/"})
    assert (config["HOST"], config["PORT"], config["BACKEND_URL"]) == (
        "0.0.0.0",
        9090,
        "https://api",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT='http': must be a number"),
        ("PORT", "70000", "PORT='70000': must be between 0 and 65535"),
        ("BACKEND_URL", "ftp://x", "BACKEND_URL='ftp://x': must be an http:// or https:// URL"),
        ("BACKEND_TIMEOUT_SECONDS", "nan", "must be above 0"),
        ("BACKEND_TIMEOUT_SECONDS", "0", "must be above 0"),
        ("BACKEND_MAX_RESPONSE_BYTES", "0", "must be 1 or more"),
        ("TRUSTED_PROXY_HOPS", "-1", "must be 0 or more"),
    ],
)
def test_an_invalid_setting_is_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config({name: value})


@pytest.mark.parametrize(
    ("answer", "access"),
    [
        (problem(415, "unsupported_media_type"), "allowed"),
        (problem(401, "api_key_required"), "api_key_required"),
        (problem(401, "api_key_invalid"), "api_key_invalid"),
        (problem(403, "insufficient_scope"), "insufficient_scope"),
    ],
)
def test_the_start_up_check_reads_the_apis_refusal(answer: httpx.Response, access: str) -> None:
    sent: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer

    client = UsersClient(
        "http://api", timeout=1, max_response_bytes=10_000, transport=httpx.MockTransport(api)
    )
    assert client.write_access() == access
    assert [(request.method, request.url.path, request.content) for request in sent] == [
        ("POST", "/api/v1/users", b"")
    ]
