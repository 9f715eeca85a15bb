"""Idempotency-Key on createUser and createUsers."""

import asyncio
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import crud, idempotency
from api.db import DatabaseUnavailable, Store
from tests.conftest import USERS, assert_problem, course_user


def post(client: FlaskClient, key: str, body: object, url: str = USERS) -> object:
    return client.post(url, json=body, headers={"Idempotency-Key": key})


def test_a_retry_gets_the_first_answer_and_creates_nothing(client: FlaskClient) -> None:
    first = client.post(USERS, json=course_user(), headers={"Idempotency-Key": "key-1"})
    # The same JSON, written differently, is the same request.
    retry = client.post(
        USERS,
        data='{"email":"priyanshu@example.com",  "name":"Priyanshu", "role":"DevOps Engineer",'
        '"skills":["Docker","Kubernetes","AWS"],"active":true,'
        '"experience":{"companies":["Company A","Company B"],"years":5}}',
        content_type="application/json",
        headers={"Idempotency-Key": "key-1"},
    )

    assert first.status_code == retry.status_code == 201
    assert retry.json == first.json
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert client.get(USERS).json["total"] == 1


def test_a_refused_request_is_replayed_too(client: FlaskClient) -> None:
    client.post(USERS, json=course_user())

    first = client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})
    retry = client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})

    assert_problem(first, 409, "email_taken")
    assert_problem(retry, 409, "email_taken")
    assert retry.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("failure", "status"),
    [(DatabaseUnavailable("down"), 503), (RuntimeError("a bug"), 500)],
)
def test_a_failure_worth_retrying_releases_the_key(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    # A 5xx is not the request's outcome: the retry runs again instead of replaying it.
    async def fail(*_args: Any, **_kwargs: Any) -> None:
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(crud, "create_user", fail)
        first = client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})
    retry = client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})

    assert first.status_code == status
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert client.get(USERS).json["total"] == 1


def test_the_same_key_with_another_body_is_422(client: FlaskClient) -> None:
    client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})

    response = client.post(USERS, json=course_user(name="Other"), headers={"Idempotency-Key": "k"})

    assert_problem(response, 422, "idempotency_key_reused")
    assert client.get(USERS).json["total"] == 1


def test_the_same_key_on_another_operation_is_422(client: FlaskClient) -> None:
    client.post(USERS, json=course_user(), headers={"Idempotency-Key": "k"})

    response = client.post(
        f"{USERS}/batch", json={"items": [course_user()]}, headers={"Idempotency-Key": "k"}
    )

    assert_problem(response, 422, "idempotency_key_reused")


def test_batches_are_idempotent(client: FlaskClient) -> None:
    body = {"items": [course_user(email=f"u{index}@example.com") for index in range(3)]}

    first = client.post(f"{USERS}/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    retry = client.post(f"{USERS}/batch", json=body, headers={"Idempotency-Key": "batch-1"})

    assert retry.json == first.json
    assert first.json["created"] == 3
    assert client.get(USERS).json["total"] == 3


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é"])
def test_a_malformed_key_is_400(client: FlaskClient, key: str) -> None:
    response = client.post(USERS, json=course_user(), headers={"Idempotency-Key": key})

    assert_problem(response, 400, "invalid_idempotency_key")
    assert client.get(USERS).json["total"] == 0


@pytest.mark.asyncio
async def test_a_key_in_flight_is_refused_and_a_released_key_can_be_claimed(store: Store) -> None:
    claim: dict[str, Any] = {"key": "k", "fingerprint": "f", "ttl_seconds": 60}
    assert await idempotency.claim(store, **claim) is None

    with pytest.raises(idempotency.KeyInUse):
        await idempotency.claim(store, **claim)
    await idempotency.release(store, key="k")
    assert await idempotency.claim(store, **claim) is None


@pytest.mark.asyncio
async def test_an_expired_key_can_be_claimed_again(store: Store) -> None:
    claim: dict[str, Any] = {"key": "k", "fingerprint": "f", "ttl_seconds": 0}
    await idempotency.claim(store, **claim)
    await idempotency.complete(store, key="k", response={"status": 201})
    await asyncio.sleep(0.01)

    assert await idempotency.claim(store, **{**claim, "fingerprint": "other"}) is None


@pytest.mark.asyncio
async def test_the_ttl_index_exists(store: Store) -> None:
    indexes = await (await store.idempotency_keys()).index_information()

    assert indexes["ttl"]["expireAfterSeconds"] == 86_400
