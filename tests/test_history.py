"""Versions, restoring one, and the trash, over HTTP: each test runs on the embedded store and
through real Motor against the wire-protocol test server (real_driver)."""

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import crud, db, history
from api.config import load_config
from api.db import DatabaseUnavailable
from api.security import new_api_key
from tests.conftest import assert_problem, course_user, create

pytestmark = pytest.mark.real_driver

USERS = "/api/v1/users"


def versions(client: FlaskClient, user_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{USERS}/{user_id}/versions", query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def test_every_write_records_the_state_it_produced_newest_first(client: FlaskClient) -> None:
    user = create(client)
    path = f"{USERS}/{user['id']}"
    states = [user]
    for method, url, body in [
        ("put", path, course_user(role="SRE", skills=["Go"], experience={"years": 1})),
        ("patch", path, {"experience": {"companies": ["Acme"]}, "role": None}),
        ("put", f"{path}/skills/Rust", None),
        ("delete", f"{path}/skills/Go", None),
        ("patch", path, {"experience": None, "active": False}),
    ]:
        response = getattr(client, method)(url, json=body)
        assert response.status_code == 200, response.json
        states.append(response.json)
        assert client.get(path).json == response.json  # what was answered is what was stored

    page = versions(client, user["id"])

    assert page["total"] == 6
    assert [item["version"] for item in page["items"]] == [6, 5, 4, 3, 2, 1]
    operations = ["update", "remove_skill", "add_skill", "update", "replace", "create"]
    assert [item["operation"] for item in page["items"]] == operations
    assert [item["user"] for item in page["items"]] == states[::-1]
    assert all(item["written_by"] is None for item in page["items"])  # no API keys configured
    assert page["items"][0]["written_at"] == states[-1]["updated_at"]


def test_no_op_writes_record_nothing(client: FlaskClient) -> None:
    user = create(client, skills=["Go"])
    path = f"{USERS}/{user['id']}"
    assert client.put(f"{path}/skills/Go").status_code == 200  # has it already
    assert client.delete(f"{path}/skills/Rust").status_code == 200  # has it not
    assert client.patch(path, json={}).status_code == 200
    assert_problem(
        client.put(path, json=course_user(), headers={"If-Match": '"7"'}),
        412,
        "precondition_failed",
    )

    assert versions(client, user["id"])["total"] == 1


def test_versions_are_paged_with_links(client: FlaskClient) -> None:
    user = create(client)
    for years in range(1, 5):
        client.patch(f"{USERS}/{user['id']}", json={"experience": {"years": years}})

    second = versions(client, user["id"], page=2, page_size=2)
    response = client.get(f"{USERS}/{user['id']}/versions?page=2&page_size=2")

    assert [item["version"] for item in second["items"]] == [3, 2]
    assert (second["page"], second["page_size"], second["total"]) == (2, 2, 5)
    assert 'page=3&page_size=2>; rel="next"' in response.headers["Link"]
    assert 'page=1&page_size=2>; rel="prev"' in response.headers["Link"]


def test_one_version_and_what_is_not_there(client: FlaskClient) -> None:
    user = create(client)
    client.patch(f"{USERS}/{user['id']}", json={"role": "SRE"})

    first = client.get(f"{USERS}/{user['id']}/versions/1")

    assert first.status_code == 200
    assert first.json["user"] == user
    assert first.json["operation"] == "create"
    assert_problem(client.get(f"{USERS}/{user['id']}/versions/3"), 404, "not_found")
    missing = "6566f0c4e1b2c3d4e5f60718"
    assert_problem(client.get(f"{USERS}/{missing}/versions"), 404, "not_found")
    assert_problem(client.get(f"{USERS}/{missing}/versions/1"), 404, "not_found")
    for bad in ("0", "01", "-1", "x", "1" * 19, "\u0661"):
        assert_problem(client.get(f"{USERS}/{user['id']}/versions/{bad}"), 404, "not_found")
    assert_problem(client.get(f"{USERS}/{user['id']}/versions?page=0"), 422, "validation_failed")


def test_restoring_a_version_writes_it_again_as_a_new_version(client: FlaskClient) -> None:
    user = create(client)
    path = f"{USERS}/{user['id']}"
    changed = client.patch(path, json={"role": "SRE", "skills": ["Go"], "experience": None})

    stale = client.post(f"{path}/versions/1/restore", headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition_failed")
    restored = client.post(
        f"{path}/versions/1/restore", headers={"If-Match": changed.headers["ETag"]}
    )

    assert restored.status_code == 200
    assert restored.headers["ETag"] == '"3"'
    fields = ("name", "email", "role", "skills", "experience", "active", "created_at")
    assert {name: restored.json[name] for name in fields} == {name: user[name] for name in fields}
    assert client.get(path).json == restored.json
    page = versions(client, user["id"])
    assert [item["operation"] for item in page["items"]] == ["restore_version", "update", "create"]
    assert_problem(client.post(f"{path}/versions/9/restore"), 404, "not_found")
    missing = "6566f0c4e1b2c3d4e5f60718"
    assert_problem(client.post(f"{USERS}/{missing}/versions/1/restore"), 404, "not_found")


def test_restoring_a_version_whose_email_is_taken_is_409(client: FlaskClient) -> None:
    user = create(client, email="first@example.com")
    path = f"{USERS}/{user['id']}"
    client.patch(path, json={"email": "second@example.com"})
    create(client, email="FIRST@example.com")  # free again, then taken by another user

    assert_problem(client.post(f"{path}/versions/1/restore"), 409, "email_taken")
    assert client.get(path).json["email"] == "second@example.com"
    assert versions(client, user["id"])["total"] == 2


@pytest.mark.parametrize("app_config", [{"HISTORY_MAX_VERSIONS": 3}])
def test_at_most_history_max_versions_are_kept(client: FlaskClient) -> None:
    user = create(client)
    for years in range(1, 7):
        client.patch(f"{USERS}/{user['id']}", json={"experience": {"years": years}})

    page = versions(client, user["id"])

    assert [item["version"] for item in page["items"]] == [7, 6, 5]
    assert page["total"] == 3
    assert_problem(client.post(f"{USERS}/{user['id']}/versions/4/restore"), 404, "not_found")


@pytest.mark.parametrize("app_config", [{"HISTORY_MAX_VERSIONS": 0}])
def test_history_off_keeps_no_version_but_the_current_one(client: FlaskClient) -> None:
    user = create(client)
    client.patch(f"{USERS}/{user['id']}", json={"role": "SRE"})

    page = versions(client, user["id"])

    assert [item["version"] for item in page["items"]] == [2]
    assert page["items"][0]["user"]["role"] == "SRE"
    assert_problem(client.get(f"{USERS}/{user['id']}/versions/1"), 404, "not_found")


READER, READER_DIGEST = new_api_key()
WRITER, WRITER_DIGEST = new_api_key()


@pytest.mark.parametrize(
    "app_config",
    [load_config({"API_KEYS": f"ops:read+write:{WRITER_DIGEST},viewer:read:{READER_DIGEST}"})],
)
def test_a_version_names_the_api_key_that_wrote_it(client: FlaskClient) -> None:
    write = {"X-API-Key": WRITER}
    response = client.post(USERS, json=course_user(), headers=write)
    user_id = response.json["id"]
    refused = client.post(f"{USERS}/{user_id}/versions/1/restore", headers={"X-API-Key": READER})
    assert_problem(refused, 403, "insufficient_scope")

    page = versions(client, user_id)

    assert [item["written_by"] for item in page["items"]] == ["ops"]


def test_a_deleted_user_is_gone_and_its_email_free(client: FlaskClient) -> None:
    user = create(client)
    path = f"{USERS}/{user['id']}"

    assert client.delete(path).status_code == 204

    assert_problem(client.get(path), 404, "not_found")
    assert_problem(client.patch(path, json={"role": "x"}), 404, "not_found")
    assert_problem(client.delete(path), 404, "not_found")
    assert_problem(client.get(f"{path}/versions"), 404, "not_found")
    assert user["id"] not in [item["id"] for item in client.get(USERS).json["items"]]
    again = create(client, email="PRIYANSHU@example.com")
    assert again["id"] != user["id"]
    stats = client.get(f"{USERS}/stats").json
    assert stats["total"] == 1


def test_the_trash_lists_deleted_users_only(client: FlaskClient) -> None:
    kept = create(client, email="kept@example.com")
    gone = [create(client, email=f"gone{number}@example.com") for number in range(3)]
    for user in gone:
        client.delete(f"{USERS}/{user['id']}")

    trash = client.get(USERS, query_string={"deleted": "true", "sort": "-email"}).json
    live = client.get(USERS, query_string={"deleted": "false"}).json

    assert [item["email"] for item in trash["items"]] == [
        "gone2@example.com",
        "gone1@example.com",
        "gone0@example.com",
    ]
    assert trash["total"] == 3
    assert all(item["deleted_at"] >= item["created_at"] for item in trash["items"])
    assert [item["id"] for item in live["items"]] == [kept["id"]]
    assert "deleted_at" not in live["items"][0]
    by_email = client.get(USERS, query_string={"deleted": "true", "q": "gone1"}).json
    assert [item["id"] for item in by_email["items"]] == [gone[1]["id"]]
    paged = client.get(USERS, query_string={"deleted": "true", "sort": "email", "page_size": 2})
    cursor = paged.json["next_cursor"]
    rest = client.get(USERS, query_string={"deleted": "true", "cursor": cursor}).json
    assert [item["email"] for item in rest["items"]] == ["gone2@example.com"]


def test_restoring_from_the_trash_brings_the_user_back_as_a_new_version(
    client: FlaskClient,
) -> None:
    user = create(client)
    path = f"{USERS}/{user['id']}"
    client.delete(path)

    restored = client.post(f"{path}/restore")

    assert restored.status_code == 200
    assert restored.headers["ETag"] == '"3"'
    assert "deleted_at" not in restored.json
    assert client.get(path).json == restored.json
    operations = [item["operation"] for item in versions(client, user["id"])["items"]]
    assert operations == ["restore", "delete", "create"]
    assert_problem(client.post(f"{path}/restore"), 409, "not_deleted")  # not in the trash now
    missing = "6566f0c4e1b2c3d4e5f60718"
    assert_problem(client.post(f"{USERS}/{missing}/restore"), 404, "not_found")
    assert_problem(
        client.post(USERS, json=course_user(email="Priyanshu@example.com")), 409, "email_taken"
    )


def test_restoring_a_user_whose_email_was_taken_meanwhile_is_409(client: FlaskClient) -> None:
    user = create(client)
    client.delete(f"{USERS}/{user['id']}")
    create(client)

    assert_problem(client.post(f"{USERS}/{user['id']}/restore"), 409, "email_taken")
    trash = client.get(USERS, query_string={"deleted": "true"}).json
    assert [item["id"] for item in trash["items"]] == [user["id"]]


@pytest.mark.parametrize("app_config", [{"TRASH_TTL_SECONDS": 60}])
def test_the_trash_forgets_users_after_its_ttl(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create(client)
    client.delete(f"{USERS}/{user['id']}")
    now = db.now()
    # MongoDB's TTL monitor may run up to a minute late: past the TTL, the user is gone anyway.
    monkeypatch.setattr(crud, "now", lambda: now + timedelta(seconds=61))

    assert_problem(client.post(f"{USERS}/{user['id']}/restore"), 404, "not_found")
    assert client.get(USERS, query_string={"deleted": "true"}).json["items"] == []


def test_a_write_that_did_not_record_its_version_is_repaired_by_the_next(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create(client)
    path = f"{USERS}/{user['id']}"
    record = history.record

    async def crash(*_args: Any, **_kwargs: Any) -> None:
        raise DatabaseUnavailable("MongoDB went away between the user write and its version")

    monkeypatch.setattr(history, "record", crash)
    assert_problem(client.patch(path, json={"role": "SRE"}), 503, "database_unavailable")
    monkeypatch.setattr(history, "record", record)

    # The user was stored at version 2 without its version: the user itself stands for it.
    page = versions(client, user["id"])
    assert [item["version"] for item in page["items"]] == [2, 1]
    assert page["items"][0]["operation"] == "update"
    assert client.get(f"{path}/versions/2").json == page["items"][0]

    assert client.patch(path, json={"active": False}).status_code == 200
    repaired = versions(client, user["id"])
    assert [item["version"] for item in repaired["items"]] == [3, 2, 1]
    assert repaired["items"][1] == page["items"][0]


def test_course_routes_answer_as_before(client: FlaskClient) -> None:
    created = client.post("/add", json=course_user())
    listed = client.get("/users")

    assert created.status_code == 201
    assert [user["id"] for user in listed.json] == [created.json["id"]]
    assert client.get(f"/user/{created.json['id']}").json == created.json
    assert versions(client, created.json["id"])["items"][0]["operation"] == "create"
