"""Nothing lost, overwritten or duplicated under concurrency, through a live server."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import USERS, course_user
from tests.live_server import Server

pytestmark = pytest.mark.live


def concurrently(
    server: Server, count: int, request: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """Send `count` requests at once, each on its own connection, released together."""
    barrier = threading.Barrier(count)

    def send(index: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/health/live")  # connect first, so the requests start together
            barrier.wait(timeout=30)
            return request(client, index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    found: dict[int, int] = {}
    for response in responses:
        found[response.status_code] = found.get(response.status_code, 0) + 1
    return found


def test_50_concurrent_creates_with_one_email_create_exactly_one(
    server: Server, http: httpx.Client
) -> None:
    responses = concurrently(
        server,
        50,
        lambda client, index: client.post(
            USERS,
            json=course_user(
                name=f"Racer {index}", email="Race@Example.com" if index % 2 else "race@example.com"
            ),
        ),
    )

    assert statuses(responses) == {201: 1, 409: 49}
    assert http.get(USERS, params={"q": "race@example.com"}).json()["total"] == 1


def test_20_concurrent_patches_with_one_etag_apply_exactly_one(
    server: Server, http: httpx.Client
) -> None:
    created = http.post(USERS, json=course_user(email="patched@example.com"))
    location, etag = created.headers["location"], created.headers["etag"]

    responses = concurrently(
        server,
        20,
        lambda client, index: client.patch(
            location, json={"role": f"Role {index}"}, headers={"If-Match": etag}
        ),
    )

    assert statuses(responses) == {200: 1, 412: 19}
    (winner,) = [response for response in responses if response.status_code == 200]
    stored = http.get(location)
    assert stored.json() == winner.json()
    assert stored.headers["etag"] == winner.headers["etag"] == '"2"'


def test_10_concurrent_retries_with_one_idempotency_key_create_one_user(
    server: Server, http: httpx.Client
) -> None:
    body = course_user(email="retried@example.com")

    responses = concurrently(
        server,
        10,
        lambda client, _: client.post(USERS, json=body, headers={"Idempotency-Key": "retry-1"}),
    )

    assert set(statuses(responses)) <= {201, 409}
    created = [response for response in responses if response.status_code == 201]
    assert len({response.json()["id"] for response in created}) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_key_in_use"
    assert http.get(USERS, params={"q": "retried@example.com"}).json()["total"] == 1
    replay = http.post(USERS, json=body, headers={"Idempotency-Key": "retry-1"})
    assert replay.status_code == 201
    assert replay.json() == created[0].json()


def test_cursor_paging_sees_every_existing_user_once_while_users_are_added(
    server: Server, http: httpx.Client
) -> None:
    role = "Paged"
    existing = [
        http.post(USERS, json=course_user(email=f"paged{index}@example.com", role=role)).json()[
            "id"
        ]
        for index in range(40)
    ]
    adding_started, stop = threading.Event(), threading.Event()

    def keep_adding() -> int:
        added = 0
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set() and added < 200:
                client.post(USERS, json=course_user(email=f"late{added}@example.com", role=role))
                added += 1
                adding_started.set()
        return added

    with ThreadPoolExecutor(1) as pool:
        adding = pool.submit(keep_adding)
        assert adding_started.wait(timeout=30)
        seen: list[str] = []
        params: dict[str, Any] = {"role": role, "page_size": 3, "include_total": "false"}
        while True:
            page = http.get(USERS, params=params).json()
            seen += [user["id"] for user in page["items"]]
            if page["next_cursor"] is None:
                break
            params = {
                "role": role,
                "page_size": 3,
                "cursor": page["next_cursor"],
                "include_total": "false",
            }
        stop.set()
        added = adding.result()

    assert added > 1, "no user was added while paging"
    assert len(seen) == len(set(seen)), "a user was seen twice"
    assert set(existing) <= set(seen), "a user that existed when paging began was skipped"


def test_injection_attempts_are_refused_and_change_nothing(http: httpx.Client) -> None:
    before = http.get(USERS, params={"page_size": 100}).json()
    attempts = [
        http.post(USERS, json={"name": {"$gt": ""}, "email": "a@example.com"}),
        http.post(USERS, json={"name": "A", "email": "a@example.com", "$where": "1"}),
        http.post(USERS, json={"name": "A", "email": "a@example.com", "role.x": "y"}),
        http.get(USERS, params={"role[$ne]": "x"}),
        http.get(USERS, params={"$where": "sleep(100)"}),
    ]

    assert [response.status_code for response in attempts] == [422] * 5
    literal = http.get(USERS, params={"q": ".*", "page_size": 100}).json()
    assert literal["items"] == [
        user for user in before["items"] if ".*" in user["name"] + user["email"]
    ]
    assert http.get(USERS, params={"page_size": 100}).json() == before
