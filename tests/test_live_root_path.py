"""ROOT_PATH: the service behind a reverse proxy at /users-api, live (Hypercorn), reached both
with the prefix in the path and through a proxy that strips it."""

import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import USERS, course_user
from tests.live_server import Server, start_server

pytestmark = pytest.mark.live

PREFIX = "/users-api"
# Hop-by-hop headers (RFC 9110 section 7.6.1) and the framing the proxy redoes itself.
NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def strip_prefix_proxy(upstream: str) -> tuple[ThreadingHTTPServer, str]:
    """A reverse proxy serving `upstream` at PREFIX: it takes PREFIX off the path (as nginx's
    `location /users-api/ { proxy_pass http://upstream/; }` does) and answers 404 elsewhere."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            if self.path != PREFIX and not self.path.startswith(f"{PREFIX}/"):
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
            connection = HTTPConnection(target.hostname, target.port, timeout=10)
            try:
                path = self.path[len(PREFIX) :] or "/"
                connection.request(self.command, path, body=body or None, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in NOT_FORWARDED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        def log_message(self, format: str, *args: object) -> None:
            pass  # pytest shows the assertions; the proxy's lines would only add noise

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy, f"http://127.0.0.1:{proxy.server_address[1]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("root-path"), ROOT_PATH=PREFIX)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(server: Server) -> Iterator[str]:
    proxy, url = strip_prefix_proxy(server.url)
    yield url
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture(params=["prefix kept", "prefix stripped"])
def http(request: pytest.FixtureRequest, server: Server) -> Iterator[httpx.Client]:
    """A client of the service at PREFIX: straight to it, or through the stripping proxy."""
    base = server.url if request.param == "prefix kept" else request.getfixturevalue("proxy")
    with httpx.Client(base_url=base, timeout=10) as client:
        yield client


def test_routes_answer_under_the_prefix_and_urls_carry_it(
    http: httpx.Client, request: pytest.FixtureRequest
) -> None:
    email = f"root.{request.node.callspec.id.replace(' ', '.')}@example.com"
    created = http.post(f"{PREFIX}{USERS}", json=course_user(email=email))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location == f"{PREFIX}{USERS}/{created.json()['id']}"
    assert http.get(location).json() == created.json()

    page = http.get(f"{PREFIX}{USERS}", params={"page_size": 1, "q": "root."})
    assert page.status_code == 200
    links = page.headers["Link"]
    assert f'<{PREFIX}{USERS}?q=root.&page=1&page_size=1>; rel="first"' in links
    assert http.get(links.split(">")[0].lstrip("<")).status_code == 200

    missing = http.get(f"{PREFIX}{USERS}/0123456789abcdef01234567")
    assert missing.status_code == 404
    assert missing.json()["instance"] == f"{PREFIX}{USERS}/0123456789abcdef01234567"


def test_the_docs_and_the_documents_name_the_prefix(http: httpx.Client) -> None:
    assert http.get(f"{PREFIX}/").headers["Location"] == f"{PREFIX}/docs"
    swagger_ui = http.get(f"{PREFIX}/docs")
    assert swagger_ui.status_code == 200
    assert f'"url": "{PREFIX}/openapi.json"' in swagger_ui.text
    assert f'src="{PREFIX}/docs/assets/swagger-ui-bundle.js"' in swagger_ui.text
    assert http.get(f"{PREFIX}/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert f'spec-url="{PREFIX}/openapi.json"' in http.get(f"{PREFIX}/redoc").text

    for stem in ("openapi", "openapi-3.0"):
        document = http.get(f"{PREFIX}/{stem}.json").json()
        assert document["servers"][0]["url"] == PREFIX
        assert "/api/v1/users" in document["paths"]  # paths stay relative to the server


def test_the_probes_answer_without_the_prefix_too(server: Server) -> None:
    # An orchestrator probes the process itself, not through the proxy.
    assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200
    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    assert httpx.get(f"{server.url}{PREFIX}/health/ready", timeout=10).status_code == 200


def test_without_root_path_urls_have_no_prefix(tmp_path: Path) -> None:
    plain = start_server(tmp_path)
    try:
        created = httpx.post(f"{plain.url}{USERS}", json=course_user(), timeout=10)
        assert created.headers["Location"] == f"{USERS}/{created.json()['id']}"
        assert httpx.get(f"{plain.url}{PREFIX}{USERS}", timeout=10).status_code == 404
        document = httpx.get(f"{plain.url}/openapi.json", timeout=10).json()
        assert document["servers"][0]["url"] == "/"
    finally:
        plain.stop()
