"""api/security.py: API keys (who may read and who may write), CORS and security headers."""

import base64
import hashlib
import logging
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from api import create_app, docs, security
from api.config import ConfigError, load_config
from tests.conftest import USERS, assert_problem, course_user
from tests.live_server import run_module, start_server

# Keys as a client holds them; the service is configured with their SHA-256 only.
WRITER = "writer-3a1f9c0d8e7b6a5f4e3d2c1b0a9f8e7d"
READER = "reader-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
BOTH = "both-5c4b3a2918f7e6d5c4b3a2f1e0d9c8b7"
KEYS = {WRITER: "write", READER: "read", BOTH: "read+write"}


def entry(name: str, key: str, scopes: str) -> str:
    return f"{name}:{scopes}:{hashlib.sha256(key.encode()).hexdigest()}"


API_KEYS = ",".join(entry(f"k{n}", key, scopes) for n, (key, scopes) in enumerate(KEYS.items()))


def settings(**environ: str) -> dict[str, Any]:
    return load_config({"API_KEYS": API_KEYS, **environ})


def keyed(key: str | None) -> dict[str, str]:
    return {} if key is None else {"X-API-Key": key}


@pytest.fixture
def user(client: FlaskClient) -> dict[str, Any]:
    response = client.post(USERS, json=course_user(), headers=keyed(BOTH))
    assert response.status_code == 201
    return response.json


def write(client: FlaskClient, method: str, user: dict[str, Any], key: str | None) -> Any:
    path = USERS if method == "POST" else f"{USERS}/{user['id']}"
    body = {
        "POST": course_user(email="new@example.com"),
        "PUT": course_user(role="SRE"),
        "PATCH": {"role": "SRE"},
        "DELETE": None,
    }[method]
    return client.open(path, method=method, json=body, headers=keyed(key))


def unchanged(client: FlaskClient, user: dict[str, Any]) -> bool:
    listed = client.get(USERS, headers=keyed(READER)).json
    return listed["items"] == [user]


# --- writes ----------------------------------------------------------------------------------

METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
def test_a_write_without_a_key_is_401_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str
) -> None:
    response = write(client, method, user, None)

    problem = assert_problem(response, 401, "api_key_required")
    assert "X-API-Key" in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith("ApiKey ")
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("key", ["wrong", "", WRITER.upper(), READER[:-1], f"{WRITER},{READER}"])
def test_a_write_with_a_wrong_key_is_401_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str, key: str
) -> None:
    response = write(client, method, user, key)

    assert_problem(response, 401, "api_key_invalid")
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
def test_a_write_with_a_read_only_key_is_403_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str
) -> None:
    response = write(client, method, user, READER)

    problem = assert_problem(response, 403, "insufficient_scope")
    assert problem["detail"] == "The API key 'k1' lacks the 'write' scope."
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("key", [WRITER, BOTH])
def test_a_write_with_a_write_key_is_done(
    client: FlaskClient, user: dict[str, Any], method: str, key: str
) -> None:
    response = write(client, method, user, key)

    assert response.status_code == {"POST": 201, "DELETE": 204}.get(method, 200)
    assert not unchanged(client, user)


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("key", [None, READER, WRITER, BOTH])
def test_reads_need_no_key_by_default(
    client: FlaskClient, user: dict[str, Any], key: str | None
) -> None:
    assert client.get(f"{USERS}/{user['id']}", headers=keyed(key)).json == user
    assert client.head(USERS, headers=keyed(key)).status_code == 200


@pytest.mark.parametrize("app_config", [settings()])
def test_a_read_with_a_wrong_key_is_401_even_when_reads_are_open(client: FlaskClient) -> None:
    assert client.get(USERS).status_code == 200
    assert_problem(client.get(USERS, headers=keyed("wrong")), 401, "api_key_invalid")


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
def test_reads_need_a_read_key_when_configured(client: FlaskClient, user: dict[str, Any]) -> None:
    item = f"{USERS}/{user['id']}"

    assert_problem(client.get(item), 401, "api_key_required")
    assert_problem(client.get(USERS, headers=keyed("wrong")), 401, "api_key_invalid")
    problem = assert_problem(client.get(item, headers=keyed(WRITER)), 403, "insufficient_scope")
    assert "'read'" in problem["detail"]
    assert client.get(item, headers=keyed(READER)).json == user
    assert client.get(item, headers=keyed(BOTH)).json == user


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
@pytest.mark.parametrize(
    "path",
    ["/health/live", "/health/ready", "/docs", "/openapi.json", "/docs/assets/swagger-ui.css"],
)
def test_probes_and_docs_need_no_key(client: FlaskClient, path: str) -> None:
    with client.get(path, headers=keyed("wrong")) as response:
        assert response.status_code == 200


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
def test_preflights_and_unknown_routes_need_no_key(client: FlaskClient) -> None:
    assert client.options(USERS).status_code == 200
    assert_problem(client.get("/api/v1/nope"), 404, "not_found")


# --- keys stay secret ------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [settings()])
def test_keys_appear_in_no_response_and_no_log(
    client: FlaskClient, user: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = []
    for key in [*KEYS, "a-wrong-key-0123456789"]:
        for method in METHODS:
            response = write(client, method, user, key)
            seen.append(response.get_data(as_text=True) + str(response.headers))

    for key in [*KEYS, "a-wrong-key-0123456789"]:
        assert not any(key in text for text in seen)
        assert key not in caplog.text


def test_without_keys_writes_are_open_and_start_up_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app({})

    assert app.test_client().post(USERS, json=course_user()).status_code == 201
    assert "API_KEYS is not set" in caplog.text
    app.extensions["store"].close()


@pytest.mark.live
def test_a_live_server_logs_no_key(tmp_path: Path) -> None:
    server = start_server(tmp_path, API_KEYS=API_KEYS, ACCESS_LOG="true", LOG_LEVEL="DEBUG")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            created = http.post(USERS, json=course_user(), headers=keyed(BOTH))
            assert created.status_code == 201
            assert http.get(USERS, headers=keyed(READER)).status_code == 200
            assert http.post(USERS, json=course_user(), headers=keyed("guess")).status_code == 401
            deleted = http.delete(created.headers["location"], headers=keyed(READER))
            assert deleted.status_code == 403
    finally:
        server.stop()

    output = server.output()
    assert '"method": "POST", "route": "/api/v1/users"' in output  # the access log is on
    assert "API_KEYS is not set" not in output
    for key in [*KEYS, "guess"]:
        assert key not in output


# --- contract and tooling --------------------------------------------------------------------


def test_the_spec_documents_the_key_and_what_each_operation_needs() -> None:
    spec = docs.documents(create_app({}))["openapi"]

    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path.startswith("/health"):
                assert operation["security"] == []
                continue
            if method == "get":
                assert operation["security"] == [{}, {"ApiKey": []}]
            else:
                assert operation["security"] == [{"ApiKey": []}]
            assert operation["responses"]["401"] == {"$ref": "#/components/responses/UNAUTHORIZED"}
            assert operation["responses"]["403"] == {"$ref": "#/components/responses/FORBIDDEN"}


def test_new_api_key_makes_a_key_and_its_entry() -> None:
    result = run_module("api", "new-api-key", "ci", "--scopes", "read", timeout=30)
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    key, api_keys = lines[1].strip(), lines[3].strip()
    assert api_keys == entry("ci", key, "read")
    assert len(key) >= 40
    (configured,) = load_config({"API_KEYS": api_keys})["API_KEYS"]
    assert (configured.name, configured.scopes) == ("ci", frozenset({"read"}))


def test_a_new_key_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # `loadtest --api-key -x...` would read the key as an option: such a draw is made again.
    draws = iter(["-leading-dash", "_underscore-first"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _nbytes: next(draws))

    key, entry_digest = security.new_api_key()

    assert key == "_underscore-first"
    assert entry_digest == hashlib.sha256(key.encode()).hexdigest()


# --- CORS ------------------------------------------------------------------------------------

APP_ORIGIN = "https://app.example.com"


@pytest.mark.parametrize(
    "app_config", [load_config({"CORS_ORIGINS": f"{APP_ORIGIN}, http://localhost:3000"})]
)
def test_an_allowed_origin_may_read_the_api_and_its_headers(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user(), headers={"Origin": APP_ORIGIN})

    assert created.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Origin" in created.headers["Vary"]
    exposed = {name.strip() for name in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Location", "Link", "Retry-After", "RateLimit-Remaining"} <= exposed
    assert "Access-Control-Allow-Credentials" not in created.headers
    local = client.get(USERS, headers={"Origin": "http://localhost:3000"})
    assert local.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


@pytest.mark.parametrize(
    "app_config", [settings(CORS_ORIGINS=APP_ORIGIN, API_KEYS_FOR_READS="true")]
)
def test_a_preflight_from_an_allowed_origin_needs_no_key(client: FlaskClient) -> None:
    response = client.options(
        USERS,
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "X-API-Key, If-Match, Content-Type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"x-api-key", "if-match", "content-type"} <= set(allowed.replace(" ", "").split(","))
    assert response.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize("app_config", [settings(CORS_ORIGINS=APP_ORIGIN)])
def test_errors_carry_cors_headers_so_browser_apps_can_read_them(client: FlaskClient) -> None:
    response = client.post(USERS, json=course_user(), headers={"Origin": APP_ORIGIN})

    assert_problem(response, 401, "api_key_required")
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


@pytest.mark.parametrize(
    "app_config", [{}, load_config({"CORS_ORIGINS": APP_ORIGIN})], ids=["no origins", "allowlist"]
)
@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "null",
        "http://app.example.com",
    ],
)
def test_other_origins_get_no_cors_headers(client: FlaskClient, origin: str) -> None:
    simple = client.get(USERS, headers={"Origin": origin})
    preflight = client.options(
        USERS, headers={"Origin": origin, "Access-Control-Request-Method": "DELETE"}
    )

    for response in (simple, preflight):
        assert not [name for name, _ in response.headers if name.startswith("Access-Control")]


@pytest.mark.parametrize(
    "value",
    ["*", "https://*.example.com", "https://app.example.com/", "app.example.com", "ftp://x"],
)
def test_cors_origins_must_be_exact_origins(value: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS="):
        load_config({"CORS_ORIGINS": value})


# --- security headers ------------------------------------------------------------------------


API_CSP = "default-src 'none'; frame-ancestors 'none'"


def inline_script_hash(page: str) -> str:
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", USERS, 200),
        ("POST", USERS, 422),
        ("GET", f"{USERS}/0123456789abcdef01234567", 404),
        ("DELETE", USERS, 405),
        ("GET", "/health/live", 200),
        ("GET", "/openapi.json", 200),
        ("OPTIONS", USERS, 200),
    ],
)
def test_api_responses_are_nosniff_no_store_and_allow_no_content(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method, json={} if method == "POST" else None)

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == API_CSP


def test_204_and_304_carry_the_headers_too(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())
    current = {"If-None-Match": created.headers["ETag"]}
    not_modified = client.get(created.headers["Location"], headers=current)
    deleted = client.delete(created.headers["Location"])

    for response in (not_modified, deleted):
        assert response.status_code in (204, 304)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_docs_page_csp_allows_only_its_own_files_and_its_inline_script(
    client: FlaskClient,
) -> None:
    page = client.get("/docs")
    policy = page.headers["Content-Security-Policy"]
    csp = dict(directive.strip().split(" ", 1) for directive in policy.split(";"))

    assert csp == {
        "default-src": "'none'",
        "script-src": f"'self' 'sha256-{inline_script_hash(page.text)}'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "font-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert asset.headers["Cache-Control"] == "no-cache"  # revalidated, unlike API data


def test_the_redoc_page_csp_adds_only_what_redoc_needs(client: FlaskClient) -> None:
    page = client.get("/redoc")
    csp = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["Content-Security-Policy"].split(";")
    )

    assert csp["default-src"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["style-src"] == "'self' 'unsafe-inline'"
    assert csp["worker-src"] == "blob:"


@pytest.mark.live
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (Debian package)")
def test_swagger_ui_works_under_its_csp_and_offers_authorize(tmp_path: Path) -> None:
    server = start_server(tmp_path, API_KEYS=API_KEYS)
    try:
        browser = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--enable-logging=stderr",
                "--virtual-time-budget=5000",
                "--dump-dom",
                f"{server.url}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.stop()

    assert "Content Security Policy" not in browser.stderr
    assert "List users" in browser.stdout  # Swagger UI ran and rendered the operations
    assert 'class="btn authorize' in browser.stdout
