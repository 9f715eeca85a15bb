"""The frontend against hostile input and a misbehaving API: never a 500, never a stack trace.

Three corpora. Requests a person or a script could send (odd paths, numbers in other scripts'
digits, huge numbers, odd ETags and fields in forms), in process and through a live frontend in
front of a live API. Answers the API could give outside its contract (HTML, wrong types,
redirects, bodies too large, compressed, endless), in process through the transport, each on
every page: a friendly 502 or 503, logged. And broken HTTP from the API (a garbage status line,
a truncated body, a trickle, an endless chunked stream), from a raw-socket API behind a live
frontend, where the framing is real.
"""

import gzip
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from frontend import create_app
from frontend.client import ETAG
from tests.live_server import Server, free_port, start_frontend, start_server
from tests.test_frontend import USER, FakeApi, problem, submit

UID = USER["id"]
LIMIT = 200_000  # BACKEND_MAX_RESPONSE_BYTES of the frontends here
FRIENDLY = {502: "answered in a way this site cannot show", 503: "not answering right now"}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def frontend(api: FakeApi) -> Flask:
    settings = {
        "FRONTEND_SECRET_KEY": "test",
        "BACKEND_MAX_RESPONSE_BYTES": LIMIT,
        "BACKEND_TIMEOUT_SECONDS": 0.5,
    }
    return create_app(settings, transport=httpx.MockTransport(api))


@pytest.fixture
def browser(frontend: Flask) -> FlaskClient:
    return frontend.test_client()


def assert_a_page(response: Any) -> None:
    """A page a person can read: not a 500, HTML, the security headers, no traceback."""
    assert response.status_code != 500, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Traceback" not in response.text


# --- Hostile requests -------------------------------------------------------------------------

# Digits a person or a script might type, none of them ASCII: int() takes some ("٣" is 3) and
# chokes on others ("²"); the frontend takes none.
OTHER_DIGITS = ["٣", "३", "৩", "๓", "３", "²", "①", "𝟑", "߃", "᠓", "〇", "Ⅲ"]  # noqa: RUF001
NUMBERS = [
    *OTHER_DIGITS,
    "1٣",
    "0",
    "-1",
    "+2",
    " 2",
    "2 ",
    "1.0",
    "1e3",
    "0x10",
    "1_000",
    "9" * 20,
    "9" * 5000,
    "%00",
    "1%00",
    "",
    "NaN",
    "Infinity",
]
REQUESTS = [
    *(f"/users?page={number}" for number in NUMBERS),
    *(f"/users?page_size={number}" for number in NUMBERS),
    "/users?page=1&page=2&page_size=10&page_size=50",
    "/users?q=%00",
    "/users?q=%ED%A0%80",  # a lone surrogate, UTF-8 encoded: not UTF-8
    "/users?q=%FF%FE",
    "/users?q=%E2%80%AE",  # right-to-left override
    "/users?q=" + "x" * 3000,
    "/users?role=%0D%0AX-Injected:%201",
    "/users?sort=name%00",
    "/users?sort=-",
    "/users?active=maybe",
    "/users?skill=a&skill=b&skill=c",
    "/users?%00=1",
    "/users?page[]=1",
    "/users/%00",
    "/users/%00/edit",
    "/users/%00/delete",
    f"/users/{UID[:-1]}%00",
    f"/users/{UID}%00",
    f"/users/{UID}%0A",
    f"/users/{UID}/",
    f"/users/{UID.upper()}",
    "/users/%F0%9F%92%A9",
    "/users/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/users/" + "a" * 5000,
    "/users/new/edit",
    "/static/..%2f__init__.py",
    "/static/%00",
    "/static/style.css%00",
    "/%00",
    "/users%00",
    "/favicon.ico%00",
]


@pytest.mark.parametrize("url", REQUESTS)
def test_no_request_gives_a_500(browser: FlaskClient, api: FakeApi, url: str) -> None:
    api.add_users(45)

    response = browser.get(url)

    assert response.status_code < 500
    assert_a_page(response)
    for request in api.requests:  # what reached the API is what the contract allows
        params = request.url.params
        assert re.fullmatch(r"[1-9][0-9]{0,6}", params.get("page", "1"))
        assert params.get("page_size", "20") in ("10", "20", "50", "100")
        assert re.fullmatch(r"/api/v1/users(/[0-9a-fA-F]{24})?", request.url.path)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"])
@pytest.mark.parametrize("url", ["/users", f"/users/{UID}", "/users/new"])
def test_other_methods_are_a_405_page_with_allow(
    browser: FlaskClient, method: str, url: str
) -> None:
    response = browser.open(url, method=method)

    assert response.status_code == 405
    assert_a_page(response)
    assert "GET" in response.headers["Allow"]


ODD_ETAGS = [
    "",
    "*",
    "W/*",
    '"1", "2"',
    '"1",*',
    "1",
    '"1',
    '""',
    'W/"1"',
    '"1" ',
    '"1"\r\nX-API-Key: stolen',
    '"1"\nX: y',
    '"\x00"',
    '"é"',
    '"€"',
    '"\U0001f4a9"',
    '"' + "1" * 5000 + '"',
    '"1"' * 3,
]


@pytest.mark.parametrize("etag", ODD_ETAGS)
@pytest.mark.parametrize("action", ["edit", "delete"])
def test_an_odd_etag_in_a_form_is_never_sent_and_changes_nothing(
    browser: FlaskClient, api: FakeApi, etag: str, action: str
) -> None:
    url = f"/users/{UID}/{action}"
    page = browser.get(url).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    response = browser.post(
        url, data={"csrf_token": token, "etag": etag, "name": "Mallory", "email": "m@example.com"}
    )

    assert response.status_code in (302, 409)
    assert_a_page(
        browser.get(response.headers["Location"]) if response.status_code == 302 else response
    )
    assert api.users[UID]["name"] == USER["name"]
    for request in api.requests:
        if "If-Match" in request.headers:
            assert ETAG.fullmatch(request.headers["If-Match"])


def test_a_form_without_its_etag_field_changes_nothing(browser: FlaskClient, api: FakeApi) -> None:
    url = f"/users/{UID}/edit"
    page = browser.get(url).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    response = browser.post(url, data={"csrf_token": token, "name": "Mallory", "email": "m@e.com"})

    assert response.status_code == 409
    assert "could not be read" in response.text
    assert [request.method for request in api.requests if request.method != "GET"] == []


ODD_FIELDS = [
    {"name": "\x00"},
    {"name": "\u202eevil"},
    {"name": "x" * 20_000},
    {"email": "\r\nBcc: x@example.com"},
    {"active": "maybe"},
    {"skills": "," * 1000},
    {"companies": "a," * 5000},
    *({"years": number} for number in [*OTHER_DIGITS, "9" * 5000, "-1", "1e3", " 7 ", "7.5"]),
]


@pytest.mark.parametrize("fields", ODD_FIELDS, ids=lambda fields: repr(fields)[:40])
@pytest.mark.parametrize("url", ["/users/new", f"/users/{UID}/edit"])
def test_odd_fields_in_a_form_go_to_the_api_typed_as_the_contract_says(
    browser: FlaskClient, api: FakeApi, fields: dict[str, str], url: str
) -> None:
    response = submit(browser, url, **{"name": "Ada", "email": "ada@example.com", **fields})

    assert response.status_code < 500
    assert_a_page(response)
    sent = json.loads(next(r for r in api.requests if r.method in ("POST", "PUT")).content)
    years = sent.get("experience", {}).get("years")
    assert years is None or isinstance(years, str) or 0 <= years < 10**9


def test_a_form_body_too_large_is_a_413_page(browser: FlaskClient, api: FakeApi) -> None:
    response = submit(browser, "/users/new", name="x" * 70_000, email="a@example.com")

    assert response.status_code == 413
    assert_a_page(response)
    assert [request.method for request in api.requests if request.method == "POST"] == []


def test_a_form_body_that_is_not_utf8_is_handled(browser: FlaskClient, api: FakeApi) -> None:
    page = browser.get("/users/new").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    response = browser.post(
        "/users/new",
        data=f"csrf_token={token}&name=%C3%28&email=%ED%A0%80%FF".encode(),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code < 500
    assert_a_page(response)
    sent = json.loads(api.last("POST").content)
    # No lone surrogate reached the API: each text encodes as UTF-8.
    assert all(sent[field].encode() for field in ("name", "email"))


# --- An API that answers outside its contract -------------------------------------------------


def answer(status: int = 200, body: Any = None, **headers: str) -> Callable[..., httpx.Response]:
    """An answer factory: `body` as JSON unless bytes; headers as given (`_` for `-`)."""
    wire = {name.replace("_", "-"): value for name, value in headers.items()}

    def make(_request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            # As an iterator, so that httpx does not decode it here, as it would bytes.
            return httpx.Response(status, content=iter([body]), headers=wire)
        return httpx.Response(status, json=body, headers={"ETag": '"1"', **wire})

    return make


def user(**changes: Any) -> dict[str, Any]:
    return {key: value for key, value in {**USER, **changes}.items() if value is not ...}


def envelope(**changes: Any) -> dict[str, Any]:
    page = {"items": [USER], "page": 1, "page_size": 20, "total": 1, "next_cursor": None}
    return {key: value for key, value in {**page, **changes}.items() if value is not ...}


def endless(_request: httpx.Request) -> httpx.Response:
    """An endless JSON-looking body; counts what was taken from it."""

    # The count is an attribute of this function, which mypy does not know functions have.
    def chunks() -> Iterator[bytes]:
        yield b'{"items": ["'
        while True:
            endless.taken += 65_536  # type: ignore[attr-defined]
            yield b"x" * 65_536

    endless.taken = 0  # type: ignore[attr-defined]
    return httpx.Response(200, content=chunks(), headers={"Content-Type": "application/json"})


def trickle(_request: httpx.Request) -> httpx.Response:
    """A body that never ends, a few bytes at a time, each in time for a read timeout."""

    def chunks() -> Iterator[bytes]:
        yield b"{"
        for _ in range(600):
            time.sleep(0.1)
            yield b" "

    return httpx.Response(200, content=chunks(), headers={"Content-Type": "application/json"})


def raises(error: type[httpx.RequestError]) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("spoiled", request=request)

    return fail


HTML = b"<!doctype html><title>Welcome to nginx!</title>"
# name -> (the answer, the status the page must have)
BAD_ANSWERS: dict[str, tuple[Callable[[httpx.Request], httpx.Response], int]] = {
    "html page": (answer(200, HTML, content_type="text/html"), 502),
    "json as text/html": (answer(200, json.dumps(USER).encode(), content_type="text/html"), 502),
    "json with no media type": (answer(200, json.dumps(USER).encode()), 502),
    "empty 200": (answer(200, b"", content_type="application/json"), 502),
    "json array": (answer(200, []), 502),
    "json null": (answer(200, b"null", content_type="application/json"), 502),
    "json string": (answer(200, "users"), 502),
    "truncated json": (answer(200, b'{"items": [', content_type="application/json"), 502),
    "not utf-8": (answer(200, b'{"name": "\xff\xfe"}', content_type="application/json"), 502),
    "deep nesting": (answer(200, b"[" * 200_000, content_type="application/json"), 502),
    "huge integer": (
        answer(200, b'{"total": 1' + b"0" * 5000 + b"}", content_type="application/json"),
        502,
    ),
    "NaN total": (
        answer(200, b'{"items": [], "total": NaN}', content_type="application/json"),
        502,
    ),
    "user id a number": (answer(200, user(id=1)), 502),
    "user id not hex": (answer(200, user(id="../../admin/x/yyyyyyyyyyy")), 502),
    "user without id": (answer(200, user(id=...)), 502),
    "user without name": (answer(200, user(name=...)), 502),
    "name null": (answer(200, user(name=None)), 502),
    "name a list": (answer(200, user(name=["a"])), 502),
    "email an object": (answer(200, user(email={"$ne": 1})), 502),
    "skills a string": (answer(200, user(skills="Go")), 502),
    "skills of numbers": (answer(200, user(skills=[1, 2])), 502),
    "years a string": (answer(200, user(experience={"years": "5"})), 502),
    "years a boolean": (answer(200, user(experience={"years": True})), 502),
    "experience a list": (answer(200, user(experience=[5])), 502),
    "active a string": (answer(200, user(active="yes")), 502),
    "created_at a number": (answer(200, user(created_at=1705276800)), 502),
    "list items an object": (answer(200, envelope(items={"a": USER})), 502),
    "list item null": (answer(200, envelope(items=[None])), 502),
    "list item wrong": (answer(200, envelope(items=[user(skills=None)])), 502),
    "total a string": (answer(200, envelope(total="1")), 502),
    "total negative": (answer(200, envelope(total=-1)), 502),
    "total missing": (answer(200, envelope(total=...)), 502),
    "page zero": (answer(200, envelope(page=0)), 502),
    "page_size zero": (answer(200, envelope(page_size=0)), 502),
    "no etag": (answer(200, user(), ETag=""), 502),
    "etag star": (answer(200, user(), ETag="*"), 502),
    "etag unquoted": (answer(200, user(), ETag="1"), 502),
    "etag a list": (answer(200, user(), ETag='"1", "2"'), 502),
    "etag latin-1": (lambda _: httpx.Response(200, json=USER, headers=[(b"ETag", b'"\xe9"')]), 502),
    "redirect 301": (answer(301, b"", Location="http://example.com/"), 502),
    "redirect 302": (answer(302, b"", Location="/elsewhere"), 502),
    "redirect 307": (answer(307, b"", Location="http://127.0.0.1:1/"), 502),
    "redirect 308": (answer(308, b"", Location="https://example.com/api/v1/users"), 502),
    "not modified": (answer(304, b""), 502),
    "accepted": (answer(202, user()), 502),
    "no content on a read": (answer(204, b""), 502),
    "created on a read": (answer(201, envelope()), 502),
    "500 problem": (lambda _: problem(500, "internal_error"), 502),
    "500 html": (answer(500, HTML, content_type="text/html"), 502),
    "501": (answer(501, b"", content_type="text/plain"), 502),
    "404 html": (answer(404, HTML, content_type="text/html"), 502),
    "400 text": (answer(400, b"Bad Request", content_type="text/plain"), 502),
    "problem without code": (
        answer(422, {"detail": "x"}, content_type="application/problem+json"),
        502,
    ),
    "problem errors a string": (
        answer(
            422,
            {"code": "x", "detail": "x", "errors": "bad"},
            content_type="application/problem+json",
        ),
        502,
    ),
    "problem errors of numbers": (
        answer(
            422,
            {"code": "x", "detail": "x", "errors": {"name": [1]}},
            content_type="application/problem+json",
        ),
        502,
    ),
    "problem a list": (answer(409, [1], content_type="application/problem+json"), 502),
    "too large, declared": (answer(200, b" " * (LIMIT + 1), content_type="application/json"), 502),
    "too large, endless": (endless, 502),
    "gzip": (
        answer(
            200,
            gzip.compress(json.dumps(USER).encode()),
            content_type="application/json",
            content_encoding="gzip",
        ),
        502,
    ),
    "br": (
        answer(200, b"\x0b\x02\x80{}\x03", content_type="application/json", content_encoding="br"),
        502,
    ),
    "deflate, identity": (
        answer(200, b"{}", content_type="application/json", content_encoding="deflate, identity"),
        502,
    ),
    "trickle": (trickle, 503),
    "429": (lambda _: problem(429, "rate_limited"), 503),
    "502 html": (answer(502, HTML, content_type="text/html"), 503),
    "503": (lambda _: problem(503, "database_unavailable"), 503),
    "504 empty": (answer(504, b""), 503),
    "refused": (raises(httpx.ConnectError), 503),
    "connect timeout": (raises(httpx.ConnectTimeout), 503),
    "read timeout": (raises(httpx.ReadTimeout), 503),
    "pool timeout": (raises(httpx.PoolTimeout), 503),
    "reset": (raises(httpx.ReadError), 503),
    "broken http": (raises(httpx.RemoteProtocolError), 502),
}
# page -> (the URL, what a person types into it, which of the API's calls is spoiled)
PAGES = {
    "list": ("/users", None, "GET"),
    "detail": (f"/users/{UID}", None, "GET"),
    "edit form": (f"/users/{UID}/edit", None, "GET"),
    "delete form": (f"/users/{UID}/delete", None, "GET"),
    "create": ("/users/new", {"name": "Ada", "email": "ada@example.com"}, "POST"),
    "save": (f"/users/{UID}/edit", {"name": "Ada", "email": "ada@example.com"}, "PUT"),
    "delete": (f"/users/{UID}/delete", {}, "DELETE"),
}
# Answers a write may give with no body: the same as a read's "no content" (a 204 is a delete's).
NOT_BAD_FOR = {("no content on a read", "delete")}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("bad", BAD_ANSWERS)
def test_a_bad_answer_is_a_friendly_page_and_logged(
    browser: FlaskClient, api: FakeApi, caplog: pytest.LogCaptureFixture, bad: str, page: str
) -> None:
    if (bad, page) in NOT_BAD_FOR:
        pytest.skip("the contract's own answer")
    spoil, status = BAD_ANSWERS[bad]
    url, fields, spoiled = PAGES[page]
    api.answer = lambda request: (
        spoil(request) if request.method == spoiled else api.handle(request)
    )
    caplog.set_level(logging.WARNING, logger="frontend")

    response = browser.get(url) if fields is None else submit(browser, url, **fields)

    assert response.status_code == status, response.text[:500]
    assert_a_page(response)
    assert FRIENDLY[status] in response.text
    assert [record for record in caplog.records if record.name == "frontend"], "nothing logged"
    if spoil is endless:
        assert endless.taken <= LIMIT + 65_536  # type: ignore[attr-defined]  # endless's count


def test_a_retry_after_from_the_api_is_passed_on(browser: FlaskClient, api: FakeApi) -> None:
    api.answer = answer(503, {"code": "x", "detail": "x"}, Retry_After="7")

    response = browser.get("/users")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"


def test_a_refused_key_is_a_502_page_with_the_apis_reference(
    browser: FlaskClient, api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"code": "api_key_required", "detail": "Send a key.", "request_id": "req-42"}
    api.answer = lambda request: (
        answer(401, body, content_type="application/problem+json")(request)
        if request.method == "POST"
        else api.handle(request)
    )

    response = submit(browser, "/users/new", name="Ada", email="ada@example.com")

    assert response.status_code == 502
    assert "did not allow this site" in response.text
    assert "req-42" in response.text
    assert "api_key_required" in caplog.text


def test_the_apis_other_refusals_show_on_the_form(browser: FlaskClient, api: FakeApi) -> None:
    body = {"code": "payload_too_large", "detail": "The body is larger than 1048576 bytes."}
    api.answer = lambda request: (
        answer(413, body, content_type="application/problem+json")(request)
        if request.method == "POST"
        else api.handle(request)
    )

    response = submit(browser, "/users/new", name="Ada", email="ada@example.com", role="SRE")

    assert response.status_code == 413
    assert "The body is larger than 1048576 bytes." in response.text
    assert 'value="SRE"' in response.text  # what was typed is kept


# --- Live: broken HTTP from a raw-socket API, hostile requests through Hypercorn --------------


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """What `sock` receives until `marker` has arrived, or until it closes."""
    received = b""
    while marker not in received:
        data = sock.recv(65_536)
        if not data:
            break
        received += data
    return received


class RawApi:
    """A TCP server speaking just enough HTTP/1.1 to misbehave: the list's `q` argument names
    the misbehaviour. Everything else gets a valid answer (the start-up check a 415)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sent: dict[str, int] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = read_until(connection, b"\r\n\r\n")
            if b"\r\n\r\n" not in head:
                return
            method, target, _ = head.decode("latin-1").split(" ", 2)
            case = parse_qs(urlsplit(target).query).get("q", ["valid"])[0]
            if method == "POST":
                case = "write probe"
            try:
                self.sent[case] = 0
                for chunk in RAW_ANSWERS[case]():
                    connection.sendall(chunk)
                    self.sent[case] += len(chunk)
            except OSError:  # the frontend hung up: what it should do to an endless answer
                pass

    def close(self) -> None:
        self.sock.close()


def _json_answer(status: int, body: dict[str, Any], media_type: str) -> Iterator[bytes]:
    data = json.dumps(body).encode()
    yield (
        f"HTTP/1.1 {status} X\r\nContent-Type: {media_type}\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + data


def _endless_chunked() -> Iterator[bytes]:
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    while True:
        yield b"10000\r\n" + b" " * 65_536 + b"\r\n"


def _until_close() -> Iterator[bytes]:
    yield b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    while True:
        yield b" " * 65_536


def _trickle() -> Iterator[bytes]:
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    for _ in range(600):
        time.sleep(0.1)
        yield b" "


def _silent() -> Iterator[bytes]:
    time.sleep(60)
    yield b""


PAGE = {"items": [], "page": 1, "page_size": 20, "total": 0, "next_cursor": None}
RAW_ANSWERS: dict[str, Callable[[], Iterator[bytes]]] = {
    "valid": lambda: _json_answer(200, PAGE, "application/json"),
    "write probe": lambda: _json_answer(
        415, {"code": "unsupported_media_type", "detail": "JSON only."}, "application/problem+json"
    ),
    "garbage status line": lambda: iter([b"HELLO THERE\r\n\r\n"]),
    "http/0.9": lambda: iter([b'{"items": []}']),
    "closed at once": lambda: iter([]),
    "truncated body": lambda: iter(
        [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"]
    ),
    "bad chunking": lambda: iter(
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"]
    ),
    "two lengths": lambda: iter(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}}"]
    ),
    "header too large": lambda: iter(
        [b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"]
    ),
    "endless chunked": _endless_chunked,
    "body until close": _until_close,
    "trickle": _trickle,
    "silent": _silent,
}
RAW_STATUS = {"trickle": 503, "silent": 503}


@pytest.fixture(scope="module")
def raw_api() -> Iterator[RawApi]:
    server = RawApi()
    yield server
    server.close()


@pytest.fixture(scope="module")
def misled(tmp_path_factory: pytest.TempPathFactory, raw_api: RawApi) -> Iterator[Server]:
    """A live frontend in front of the raw-socket API."""
    frontend = start_frontend(
        tmp_path_factory.mktemp("misled"),
        raw_api.url,
        BACKEND_TIMEOUT_SECONDS="1",
        BACKEND_MAX_RESPONSE_BYTES=str(LIMIT),
    )
    yield frontend
    frontend.stop()


@pytest.mark.live
@pytest.mark.parametrize(
    "case", [case for case in RAW_ANSWERS if case not in ("valid", "write probe")]
)
def test_broken_http_from_the_api_is_a_friendly_page(
    misled: Server, raw_api: RawApi, case: str
) -> None:
    logged = misled.output().count("the API ")

    response = httpx.get(f"{misled.url}/users", params={"q": case}, timeout=60)

    status = RAW_STATUS.get(case, 502)
    assert response.status_code == status, response.text[:300]
    assert_a_page(response)
    assert FRIENDLY[status] in response.text
    if case in ("endless chunked", "body until close"):
        # It hung up after the limit (plus what the sockets' buffers held) and answered.
        assert raw_api.sent[case] < 100 * LIMIT
    deadline = time.monotonic() + 10  # the log line may be written after the answer
    while misled.output().count("the API ") == logged and time.monotonic() < deadline:
        time.sleep(0.1)
    assert misled.output().count("the API ") == logged + 1


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live frontend in front of a live API."""
    logs = tmp_path_factory.mktemp("pair")
    api = start_server(logs)
    httpx.post(
        f"{api.url}/api/v1/users", json={"name": "Ada", "email": "ada@example.com"}, timeout=10
    ).raise_for_status()
    frontend = start_frontend(logs, api.url)
    yield frontend
    frontend.stop()
    api.stop()


@pytest.mark.live
def test_no_request_gives_a_500_through_a_live_frontend_and_api(pair: Server) -> None:
    failures = []
    with httpx.Client(base_url=pair.url, timeout=30) as client:
        for url in REQUESTS:
            response = client.get(url)
            if response.status_code >= 500 or "Traceback" in response.text:
                failures.append((url[:60], response.status_code))
    assert failures == []
    assert "Traceback" not in pair.output()


RAW_REQUESTS = [
    b"GET /users/\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /users/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /users?q=\xed\xa0\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /users?page=\xd9\xa3 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/users HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /users HTTP/1.1\r\nHost: \xff\r\n\r\n",
    b"GET /users HTTP/1.0\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /users HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /users/new HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\na=%00",
    b"POST /users/new HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\n3\r\na=b\r\n0\r\n\r\n",
]


@pytest.mark.live
@pytest.mark.parametrize("raw", RAW_REQUESTS, ids=lambda raw: repr(raw[:30]))
def test_raw_hostile_requests_through_hypercorn_give_no_500(pair: Server, raw: bytes) -> None:
    port = int(pair.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        head = read_until(sock, b"\r\n")

    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    assert status, head[:200]
    assert int(status.group(1)) < 500, head[:300]
