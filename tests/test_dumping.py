"""api/dumping.py: a compiled dump equals marshmallow's dump, on every response schema."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
import pytest

from api import create_app
from api.dumping import compile_dump
from api.schemas import (
    ListedUserSchema,
    ProblemSchema,
    StatusSchema,
    UserBatchResultSchema,
    UserPageSchema,
    UserSchema,
)

FIELDS = ["name", "email", "role", "skills", "experience", "active"]


def random_user(rng: random.Random) -> dict[str, Any]:
    """A user as crud returns it, with fields present, absent or None at random."""
    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.randrange(10**11))
    user: dict[str, Any] = {
        "id": f"{rng.randrange(16**24):024x}",
        "name": rng.choice(["Priyanshu", "Ana", "Zoë", ""]),
        "email": f"user{rng.randrange(1000)}@example.com",
        "role": rng.choice(["DevOps", "SRE", None]),
        "skills": rng.sample(["Docker", "AWS", "Go", "C++"], rng.randrange(4)),
        "experience": rng.choice(
            [None, {"years": rng.randrange(60)}, {"years": 3, "companies": ["A", "B"]}]
        ),
        "active": rng.choice([True, False]),
        "created_at": moment,
        "updated_at": moment + timedelta(seconds=rng.randrange(1000)),
        "version": rng.randrange(1, 50),
        "email_key": "not part of any schema",
    }
    for name in rng.sample(FIELDS[2:], rng.randrange(4)):
        del user[name]
    return user


def cases(count: int) -> list[dict[str, Any]]:
    rng = random.Random(20261201)
    return [random_user(rng) for _ in range(count)]


@pytest.mark.parametrize(
    "schema", [UserSchema(), ListedUserSchema(), ListedUserSchema(only=("id", "name"))]
)
def test_a_user_dumps_as_marshmallow_dumps_it(schema: ma.Schema) -> None:
    dump = compile_dump(schema)
    for user in cases(300):
        assert dump(user) == schema.dump(user), user


def test_a_page_and_a_batch_dump_as_marshmallow_dumps_them() -> None:
    users = cases(40)
    pages = [
        {"items": users[:20], "page": 1, "page_size": 20, "total": 57, "next_cursor": "abc"},
        {"items": [], "page_size": 20, "next_cursor": None},
    ]
    for page in pages:
        assert compile_dump(UserPageSchema())(page) == UserPageSchema().dump(page)
    problem = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "Taken."}
    batch = {
        "items": [
            {"index": 0, "status": 201, "user": users[0]},
            {"index": 1, "status": 409, "problem": {**problem, "errors": {"email": ["In use."]}}},
        ],
        "created": 1,
        "failed": 1,
    }
    assert compile_dump(UserBatchResultSchema())(batch) == UserBatchResultSchema().dump(batch)
    assert compile_dump(StatusSchema())({"status": "ok"}) == {"status": "ok"}
    assert compile_dump(ProblemSchema())(problem) == ProblemSchema().dump(problem)


def test_values_of_other_types_are_converted_by_their_field() -> None:
    odd = {"id": 7, "name": b"bytes", "email": None, "active": 0, "created_at": None}
    page = {"items": [odd], "page": True, "page_size": 20.9, "next_cursor": None}
    assert compile_dump(UserSchema())(odd) == UserSchema().dump(odd)
    assert compile_dump(UserPageSchema())(page) == UserPageSchema().dump(page)


def test_what_it_cannot_compile_is_left_to_marshmallow() -> None:
    class Hooked(ma.Schema):
        name = ma.fields.String()

        @ma.post_dump
        def shout(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
            return {key: value.upper() for key, value in data.items()}

    class Computed(ma.Schema):
        name = ma.fields.String()
        initial = ma.fields.Method("first_letter")

        def first_letter(self, obj: dict[str, Any]) -> str:
            return obj["name"][:1]

    assert compile_dump(Hooked())({"name": "ana"}) == {"name": "ANA"}
    assert compile_dump(Computed())({"name": "ana"}) == {"name": "ana", "initial": "a"}
    assert compile_dump(UserSchema(many=True))([cases(1)[0]]) == UserSchema(many=True).dump(
        cases(1)
    )


def test_views_answer_with_compiled_dumps() -> None:
    app = create_app({})
    client = app.test_client()
    created = client.post("/api/v1/users", json={"name": "Ana", "email": "ana@example.com"})
    assert created.status_code == 201
    user = created.get_json()
    assert client.get(f"/api/v1/users/{user['id']}").get_json() == user
    page = client.get("/api/v1/users?fields=name").get_json()
    assert page["items"] == [{"id": user["id"], "name": "Ana"}]
