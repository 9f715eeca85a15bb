"""`python -m api` (Hypercorn) on real Motor over TCP, against the wire-protocol test server.

Every operation once through the whole stack.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import assert_problem, course_user
from tests.mongo_wire import WireServer
from tests.test_live import USERS, Server, start_server

pytestmark = pytest.mark.live

DB = "live"


@pytest.fixture
def live(tmp_path: Path, wire: WireServer) -> Iterator[Server]:
    server = start_server(tmp_path, MONGODB_URI=wire.uri, MONGODB_DB=DB)
    yield server
    server.stop()


def test_every_operation_through_real_motor(live: Server, wire: WireServer) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/health/ready").status_code == 200
        created = http.post(USERS, json=course_user())
        assert created.status_code == 201
        user, location, etag = created.json(), created.headers["location"], created.headers["etag"]
        assert_problem(
            http.post(USERS, json=course_user(email="PRIYANSHU@example.com")), 409, "email_taken"
        )
        for index in range(6):
            http.post(USERS, json=course_user(email=f"u{index}@example.com")).raise_for_status()

        assert http.get(location).json() == user
        assert http.get(location, headers={"If-None-Match": etag}).status_code == 304
        # The test server sends 2 users in a first batch, so a page of 5 needs getMore.
        first = http.get(USERS, params={"page_size": 5, "sort": "-created_at"}).json()
        second = http.get(USERS, params={"page": 2, "page_size": 5, "sort": "-created_at"}).json()
        assert [len(first["items"]), len(second["items"]), first["total"]] == [5, 2, 7]
        assert second["items"][-1] == user

        replaced = http.put(
            location, json=course_user(role="SRE", skills=[]), headers={"If-Match": etag}
        )
        assert replaced.status_code == 200
        stale = http.patch(location, json={"active": False}, headers={"If-Match": etag})
        assert_problem(stale, 412, "precondition_failed")
        current = {"If-Match": replaced.headers["etag"]}
        patched = http.patch(location, json={"experience": {"years": 6}}, headers=current)
        assert patched.json()["experience"] == {"years": 6, "companies": ["Company A", "Company B"]}
        assert http.delete(location).status_code == 204
        assert_problem(http.get(location), 404, "not_found")

    assert wire.received["getmore"] >= 1
    assert wire.received["findandmodify"] >= 3
    stored = {str(document["_id"]): document for document in wire.documents(DB)}
    assert len(stored) == 6
    assert user["id"] not in stored
