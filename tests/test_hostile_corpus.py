"""A corpus of malformed and hostile requests, sent to a live server over real Motor.

Every operation gets its share. Each request must be answered below 500, with the status the
corpus expects, in a problem body that shows no internals; and the database (read directly
from the wire-protocol test server) must hold exactly what it held before. The server requires
API keys: requests carry a valid write key, so that their bodies are judged, unless the case is
about the key itself.
"""

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from api import input_limits
from tests.conftest import USERS, course_user
from tests.live_server import ROOT, Server, start_server
from tests.mongo_wire import WireServer

pytestmark = pytest.mark.live

DB = "corpus"
MISSING = "0123456789abcdef01234567"
# What an error body must never show: tracebacks, source paths, driver or framework names.
INTERNALS = [
    "Traceback",
    'File "',
    ".py",
    str(ROOT),
    "site-packages",
    "pymongo",
    "bson",
    "mongomock",
    "motor",
    "werkzeug",
    "flask",
    "Exception",
    "errno",
]


WRITE_KEY = "corpus-write-key-5f1e2d3c4b5a69788796"
READ_KEY = "corpus-read-key-0a1b2c3d4e5f60718293"
API_KEYS = ",".join(
    f"{name}:{scopes}:{hashlib.sha256(key.encode()).hexdigest()}"
    for name, scopes, key in [("writer", "read+write", WRITE_KEY), ("reader", "read", READ_KEY)]
)


@dataclass
class Case:
    name: str
    method: str
    path: str  # may hold {id} (the first seeded user) and {other} (the second one's email)
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | bytes | None = WRITE_KEY


def json_case(name: str, method: str, path: str, status: int, body: Any, **headers: str) -> Case:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Case(name, method, path, status, raw, {"Content-Type": "application/json", **headers})


def valid(**changes: Any) -> dict[str, Any]:
    return course_user(**{"email": "new@example.com", **changes})


# Bodies refused by every write (POST, PUT, PATCH), and the status each gets.
BODIES: list[tuple[str, Any, int]] = [
    ("truncated JSON", b'{"name": "Ada", "email": ', 400),
    ("duplicate keys", b'{"name": "A", "name": "B", "email": "new@example.com"}', 400),
    ("NaN", b'{"name": "A", "email": "new@example.com", "experience": {"years": NaN}}', 400),
    ("lone surrogate", b'{"name": "\\udc00", "email": "new@example.com"}', 400),
    ("not UTF-8", b'{"name": "\xc3\x28", "email": "new@example.com"}', 400),
    ("UTF-16", json.dumps(valid()).encode("utf-16"), 400),
    ("100k nested arrays", b"[" * 100_000, 400),
    ("17 nested objects", ('{"a":' * 17 + "1" + "}" * 17).encode(), 400),
    ("1001-item array", valid(skills=["s"] * (input_limits.MAX_ITEMS + 1)), 400),
    ("101 keys", {**valid(), **{f"k{n}": 0 for n in range(input_limits.MAX_KEYS)}}, 400),
    ("200-character key", {**valid(), "k" * 200: 0}, 400),
    ("50k-character string", valid(name="n" * 50_000), 400),
    ("5000-digit number", b'{"experience": {"years": 1%s}}' % (b"0" * 5000), 400),
    ("null", None, 422),
    ("array", [valid()], 422),
    ("string", "Ada", 422),
    ("NUL in name", valid(name="A\x00da"), 422),
    ("newline in role", valid(role="SRE\nAdmin"), 422),
    ("right-to-left override", valid(name="\u202eadA"), 422),
    ("NUL in email", valid(email="new@example.com\x00"), 422),
    ("300-character email", valid(email="a" * 288 + "@example.com"), 422),
    ("emoji domain", valid(email="new@\U0001f600.example"), 422),
    ("fullwidth @ in email", valid(email="new\uff20example.com"), 422),
    ("one-label domain", valid(email="new@example"), 422),
    ("two spellings of a skill", valid(skills=["Caf\u00e9", "Cafe\u0301"]), 422),
    ("operator in a field", valid(name={"$ne": None}), 422),
    ("operator as a field", {**valid(), "$where": "sleep(1000)"}, 422),
    ("_id", {**valid(), "_id": MISSING}, 422),
    ("read-only id", {**valid(), "id": MISSING}, 422),
    ("read-only created_at", {**valid(), "created_at": "2020-01-01T00:00:00Z"}, 422),
    ("dotted field", {**valid(), "experience.years": 3}, 422),
    ("string number", valid(experience={"years": "5"}), 422),
    ("huge number", valid(experience={"years": 10**300}), 422),
    ("float years", valid(experience={"years": 1e308}), 422),
    ("51 skills", valid(skills=[f"s{n}" for n in range(51)]), 422),
    ("duplicate skills", valid(skills=["Go", "Go"]), 422),
    ("nested skills", valid(skills=[["Go"]]), 422),
    ("string boolean", valid(active="true"), 422),
]

CONTENT_TYPES = [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]


def write_cases() -> Iterator[Case]:
    item = USERS + "/{id}"
    for method, path in [("POST", USERS), ("PUT", item), ("PATCH", item)]:
        for name, body, status in BODIES:
            yield json_case(f"{method} {name}", method, path, status, body)
        for content_type in CONTENT_TYPES:
            headers = {"Content-Type": content_type} if content_type else {}
            body = json.dumps(valid()).encode()
            yield Case(f"{method} as {content_type}", method, path, 415, body, headers)
    yield Case(
        "POST over MAX_BODY_BYTES",
        "POST",
        USERS,
        413,
        b" " * 1_048_577,
        {"Content-Type": "application/json"},
    )
    yield json_case("POST taken email", "POST", USERS, 409, valid(email="{other}"))
    # The key's fingerprint reads the body before the view does: it must not choke on it first.
    for name, body, status in BODIES[:8]:
        yield json_case(
            f"POST {name} with an Idempotency-Key",
            "POST",
            USERS,
            status,
            body,
            **{"Idempotency-Key": f"corpus-{name.replace(' ', '-')}"},
        )
    yield json_case("PUT taken email", "PUT", item, 409, valid(email="{other}"))
    yield json_case("PATCH taken email", "PATCH", item, 409, {"email": "{OTHER}"})
    # The same mailbox as the second user's, spelt otherwise: fullwidth, an ideographic full stop.
    for name, email in [
        ("fullwidth domain", "second@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com"),
        ("ideographic full stop", "SECOND@example\u3002com"),
    ]:
        yield json_case(f"POST taken email, {name}", "POST", USERS, 409, valid(email=email))
        yield json_case(f"PATCH taken email, {name}", "PATCH", item, 409, {"email": email})
    for method in ("PUT", "PATCH", "DELETE"):
        body = {"PUT": valid(), "PATCH": {"name": "X"}, "DELETE": None}[method]
        yield json_case(f"{method} stale If-Match", method, item, 412, body, **{"If-Match": '"9"'})
        yield json_case(f"{method} weak If-Match", method, item, 412, body, **{"If-Match": 'W/"1"'})
        yield json_case(
            f"{method} If-Match * missing",
            method,
            f"{USERS}/{MISSING}",
            412,
            body,
            **{"If-Match": "*"},
        )
        yield json_case(f"{method} missing user", method, f"{USERS}/{MISSING}", 404, body)


def read_cases() -> Iterator[Case]:
    for query, status in [
        ("page=0", 422),
        ("page=-1", 422),
        ("page=1e3", 422),
        ("page=99999999999", 422),
        ("page_size=0", 422),
        ("page_size=x", 422),
        ("sort=$natural", 422),
        ("sort=password", 422),
        ("role[$ne]=x", 422),
        ("$where=1", 422),
        ("role=", 422),
        ("role=%00", 422),
        ("skill=%E2%80%AE", 422),
        ("active=1", 422),
        ("active=null", 422),
        ("page=%D9%A1", 422),  # ARABIC-INDIC DIGIT ONE
        ("page_size=1_0", 422),
        ("min_years=%2B1", 422),
        ("max_years=%EF%BC%95", 422),  # FULLWIDTH DIGIT FIVE
        ("created_after=9999-12-31T23:59:59-01:00", 422),  # past year 9999 in UTC: was a 500
        ("created_before=0001-01-01T00:00:00%2B01:00", 422),
        (f"role={'x' * 3000}", 414),
        ("x=1&" * 600, 414),
    ]:
        yield Case(f"list ?{query[:30]}", "GET", f"{USERS}?{query}", status)
    for user_id in [
        "not-an-id",
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        '{"$ne":1}',
        "0" * 23,
        "0" * 25,
        MISSING,
        "x" * 4000,
        "%F0%9F%9A%80",
    ]:
        for method in ("GET", "DELETE"):
            yield Case(f"{method} id {user_id[:20]}", method, f"{USERS}/{user_id}", 404)
    yield Case("DELETE the collection", "DELETE", USERS, 405)
    yield Case("TRACE", "TRACE", USERS, 405)
    yield Case(
        "POST an item", "POST", USERS + "/{id}", 405, b"{}", {"Content-Type": "application/json"}
    )
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        yield Case(
            f"POST + {header}: DELETE", "POST", USERS + "/{id}", 405, None, {header: "DELETE"}
        )
        yield Case(f"GET + {header}: DELETE", "GET", USERS + "/{id}", 200, None, {header: "DELETE"})
    yield Case("GET ?_method=DELETE", "GET", USERS + "/{id}?_method=DELETE", 200)
    yield Case("readiness with a body", "GET", "/health/ready", 200, b"x" * 1000)
    yield Case("POST liveness", "POST", "/health/live", 405)


def key_cases() -> Iterator[Case]:
    item = USERS + "/{id}"
    for method, path, body in [
        ("POST", USERS, valid()),
        ("PUT", item, valid()),
        ("PATCH", item, {"role": "X"}),
        ("DELETE", item, None),
    ]:
        keys: list[tuple[str, str | bytes | None, int]] = [
            ("no key", None, 401),
            ("wrong key", "corpus-guess", 401),
            ("read-only key", READ_KEY, 403),
            ("8 KiB key", "k" * 8192, 401),
            ("key + a second value", f"{WRITE_KEY}, {WRITE_KEY}", 401),
            ("Latin-1 key", WRITE_KEY.encode() + b"\xe9", 401),
        ]
        for name, key, status in keys:
            case = json_case(f"{method} {name}", method, path, status, body)
            case.key = key
            yield case


CASES = [*write_cases(), *read_cases(), *key_cases()]

# Malformed at the HTTP level: sent as raw bytes; Hypercorn's parser answers these itself.
RAW_REQUESTS = [
    b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
    b"GET /api/v1/users\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 20_000 + b"\r\n\r\n",
    b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello to a plain HTTP port
]


# Header values of any bytes, on a raw socket: an HTTP client refuses to send most of them, and
# the server sees them as Latin-1 text (so b"\xb9" is SUPERSCRIPT ONE, which isdigit() but int()
# refuses). Each value goes into each header below; none is an ETag, key or id this API issued.
ODD_VALUES = [
    b'"01"',
    b'"\xb9"',
    b'"\xb2", "\xb3"',
    '"\u0661"'.encode(),  # ARABIC-INDIC DIGIT ONE, as UTF-8
    '"\uff11"'.encode(),  # FULLWIDTH DIGIT ONE
    b'"9223372036854775808"',  # 2**63
    b'"1' + b"0" * 30 + b'"',
    b'"' + b"9" * 5000 + b'"',
    b'"\xff\xfe\x80"',
    b'W/"x", "\xc3\x28"',
    b'","' * 2000,
    b"\xef\xbb\xbf",
    b"%00",
    b"a\tb",
]
# header -> (method, path, body, the status every odd value gets)
ODD_HEADERS = {
    b"If-Match": [
        ("PUT", USERS + "/{id}", json.dumps(valid(email="first@example.com")).encode(), 412),
        ("PATCH", USERS + "/{id}", b'{"role": "X"}', 412),
        ("DELETE", USERS + "/{id}", b"", 412),
        ("PUT", USERS + "/{id}/skills/Go", b"", 412),
        ("DELETE", USERS + "/{id}/skills/Docker", b"", 412),
    ],
    b"If-None-Match": [("GET", USERS + "/{id}", b"", 200)],
    b"Idempotency-Key": [("POST", USERS, json.dumps(valid()).encode(), 400)],
    b"X-API-Key": [("PATCH", USERS + "/{id}", b'{"role": "X"}', 401)],
    b"Content-Type": [("PATCH", USERS + "/{id}", b'{"role": "X"}', 415)],
    b"X-Request-ID": [("GET", USERS + "/{id}", b"", 200)],
}
# 1 to 255 printable ASCII characters are a valid Idempotency-Key: those would create a user.
IDEMPOTENCY_KEY = re.compile(rb"[!-~]{1,255}")
HEADER_CASES = [
    (header, value, *request)
    for header, requests in ODD_HEADERS.items()
    for request in requests
    for value in ODD_VALUES
    if not (header == b"Idempotency-Key" and IDEMPOTENCY_KEY.fullmatch(value))
]


def exchange(server: Server, request: bytes) -> bytes:
    """Send raw bytes to the server; return everything it answers until it closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def wire_db() -> Iterator[WireServer]:
    with WireServer() as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, wire_db: WireServer) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("corpus"), MONGODB_URI=wire_db.uri, MONGODB_DB=DB, API_KEYS=API_KEYS
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seeded(live: Server) -> dict[str, str]:
    with httpx.Client(base_url=live.url, headers={"X-API-Key": WRITE_KEY}, timeout=30) as http:
        first = http.post(USERS, json=course_user(email="first@example.com"))
        second = http.post(USERS, json=course_user(email="second@example.com"))
    assert (first.status_code, second.status_code) == (201, 201)
    return {"id": first.json()["id"], "other": "second@example.com", "OTHER": "SECOND@example.com"}


def test_the_corpus_is_large_and_covers_every_operation() -> None:
    assert len(CASES) + len(RAW_REQUESTS) >= 100
    methods = {(case.method, "{id}" in case.path or MISSING in case.path) for case in CASES}
    assert {
        ("GET", False),
        ("POST", False),
        ("GET", True),
        ("PUT", True),
        ("PATCH", True),
        ("DELETE", True),
    } <= methods


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_request_is_refused_cleanly_and_changes_nothing(
    live: Server, wire_db: WireServer, seeded: dict[str, str], case: Case
) -> None:
    before = wire_db.documents(DB)
    body = case.body
    if body is not None:
        body = body.replace(b"{other}", seeded["other"].encode())
        body = body.replace(b"{OTHER}", seeded["OTHER"].encode())

    path = case.path.replace("{id}", seeded["id"])

    with httpx.Client(base_url=live.url, timeout=30) as http:
        headers: dict[str, Any] = {**case.headers}  # httpx sends a bytes value as it is
        if case.key is not None:
            headers["X-API-Key"] = case.key
        response = http.request(case.method, path, content=body, headers=headers)

    assert response.status_code == case.status, response.text
    assert wire_db.documents(DB) == before
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == case.status
        instance = problem.pop("instance")
        assert instance.isascii()
        assert instance.isprintable()
        assert unquote(instance) == unquote(path.split("?")[0])
        shown = json.dumps(problem).lower()
        for internal in INTERNALS:
            assert internal.lower() not in shown, internal
        assert len(shown) < 1000  # the body, beyond the request path, is never echoed back
        for key in (WRITE_KEY, READ_KEY, "corpus-guess"):
            assert key not in response.text


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("raw", RAW_REQUESTS, ids=[f"raw{n}" for n in range(len(RAW_REQUESTS))])
def test_malformed_http_is_refused_below_500(live: Server, wire_db: WireServer, raw: bytes) -> None:
    before = wire_db.documents(DB)

    answer = exchange(live, raw)

    status_line = answer.split(b"\r\n", 1)[0]
    assert answer == b"" or int(status_line.split()[1]) < 500, answer[:200]
    assert wire_db.documents(DB) == before


@pytest.mark.parametrize(
    ("header", "value", "method", "path", "body", "status"),
    HEADER_CASES,
    ids=[f"{case[2]} {case[3]} {case[0].decode()} {case[1][:12]!r}" for case in HEADER_CASES],
)
def test_a_header_of_any_bytes_gets_its_status_and_changes_nothing(
    live: Server,
    wire_db: WireServer,
    seeded: dict[str, str],
    header: bytes,
    value: bytes,
    method: str,
    path: str,
    body: bytes,
    status: int,
) -> None:
    before = wire_db.documents(DB)
    key = b"" if header == b"X-API-Key" else b"X-API-Key: " + WRITE_KEY.encode() + b"\r\n"
    content_type = b"" if header == b"Content-Type" else b"Content-Type: application/json\r\n"
    request = (
        f"{method} {path.replace('{id}', seeded['id'])} HTTP/1.1\r\n".encode()
        + b"Host: corpus\r\nConnection: close\r\n"
        + key
        + (content_type if body else b"")
        + b"Content-Length: %d\r\n" % len(body)
        + header
        + b": "
        + value
        + b"\r\n\r\n"
        + body
    )

    answer = exchange(live, request)

    head, _, content = answer.partition(b"\r\n\r\n")
    assert int(head.split(b" ", 2)[1]) == status, answer[:300]
    assert wire_db.documents(DB) == before
    if status >= 400:
        assert json.loads(content)["status"] == status
    if header == b"X-Request-ID":
        assert value not in head.split(b"\r\n", 1)[1]  # made up anew, not echoed


def test_the_server_survived_the_corpus(
    live: Server, wire_db: WireServer, seeded: dict[str, str]
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get(f"{USERS}/{seeded['id']}").status_code == 200
    assert [document["email"] for document in wire_db.documents(DB)] == [
        "first@example.com",
        "second@example.com",
    ]
    assert "Traceback" not in live.output()
