"""Storage functions called directly, on the in-memory store (pytest-asyncio)."""

from typing import Any

import pytest

from api import crud
from api.db import Store
from tests.conftest import course_user

pytestmark = pytest.mark.asyncio


async def test_open_creates_the_indexes(store: Store) -> None:
    indexes = await (await store.users()).index_information()

    email = indexes["email_key_live_unique"]
    assert email["unique"] is True
    assert email["partialFilterExpression"] == {"email_key": {"$exists": True}}
    assert "email_key_unique" not in indexes
    trash = indexes["trash_ttl"]
    assert trash["expireAfterSeconds"] == store.trash_ttl_seconds
    assert trash["partialFilterExpression"] == {"deleted_at": {"$exists": True}}
    versions = await (await store.user_versions()).index_information()
    assert versions["user_version"]["unique"] is True
    assert versions["ttl"]["expireAfterSeconds"] == 0
    expected = {
        "created_at_id",
        "name_id",
        "role_created_at",
        "skills",
        "active",
        "companies",
        "years",
    }
    assert expected <= set(indexes)


async def test_create_then_get_round_trips_the_document(store: Store) -> None:
    created = await crud.create_user(store, data=course_user())

    assert await crud.get_user(store, user_id=created["id"]) == created
    assert created["version"] == 1
    assert created["created_at"].tzinfo is not None
    assert created["created_at"].microsecond % 1000 == 0


async def test_emails_are_unique_regardless_of_case(store: Store) -> None:
    await crud.create_user(store, data=course_user(email="Ada@Example.com"))

    with pytest.raises(crud.EmailTaken):
        await crud.create_user(store, data=course_user(email="ada@example.COM"))
    assert (await crud.list_users(store))["total"] == 1


async def test_emails_are_unique_per_mailbox_whatever_the_spelling(store: Store) -> None:
    await crud.create_user(store, data=course_user(email="anna@bu\u0308cher.example"))

    for spelling in ["Anna@B\u00fccher.example", "anna@xn--bcher-kva.example"]:
        with pytest.raises(crud.EmailTaken):
            await crud.create_user(store, data=course_user(email=spelling))
    other = await crud.create_user(store, data=course_user(email="other@example.com"))
    with pytest.raises(crud.EmailTaken):
        await crud.update_user(
            store, user_id=other["id"], changes={"email": "ANNA@B\u00dcCHER.example"}
        )
    assert (await crud.list_users(store))["total"] == 2


async def test_rewriting_the_email_of_a_document_keyed_by_the_old_rule_rekeys_it(
    store: Store,
) -> None:
    # The earlier key was the address case-folded: a Unicode domain, not its A-label.
    old = {**course_user(email="Anna@B\u00fccher.example"), "email_key": "anna@b\u00fccher.example"}
    users = await store.users()
    old_id = str((await users.insert_one({**old, "version": 1})).inserted_id)
    # Under the old key, the same mailbox could be stored twice.
    twin = await crud.create_user(store, data=course_user(email="anna@xn--bcher-kva.example"))

    with pytest.raises(crud.EmailTaken):  # the collision shows, for a person to resolve
        await crud.update_user(store, user_id=old_id, changes={"email": old["email"]})
    await crud.delete_user(store, user_id=twin["id"])
    await crud.update_user(store, user_id=old_id, changes={"email": old["email"]})

    document = await users.find_one({})
    assert document["email_key"] == "anna@xn--bcher-kva.example"
    assert document["email"] == old["email"]


async def test_get_of_a_missing_user_is_none(store: Store) -> None:
    assert await crud.get_user(store, user_id="0123456789abcdef01234567") is None


async def test_every_write_increments_the_version(store: Store) -> None:
    user = await crud.create_user(store, data=course_user())

    replaced = await crud.replace_user(store, user_id=user["id"], data=course_user(name="B"))
    assert replaced is not None
    updated = await crud.update_user(store, user_id=user["id"], changes={"name": "C"})
    assert updated is not None

    assert (replaced["version"], updated["version"]) == (2, 3)


async def test_a_conditional_write_with_a_stale_version_is_refused(store: Store) -> None:
    user = await crud.create_user(store, data=course_user())
    await crud.update_user(store, user_id=user["id"], changes={"name": "B"}, versions=[1])

    with pytest.raises(crud.VersionMismatch):
        await crud.update_user(store, user_id=user["id"], changes={"name": "C"}, versions=[1])
    with pytest.raises(crud.VersionMismatch):
        await crud.delete_user(store, user_id=user["id"], versions=[1])
    stored = await crud.get_user(store, user_id=user["id"])
    assert stored is not None
    assert (stored["name"], stored["version"]) == ("B", 2)


async def test_a_conditional_write_on_a_missing_user_is_none(store: Store) -> None:
    missing = "0123456789abcdef01234567"

    assert (
        await crud.update_user(store, user_id=missing, changes={"name": "C"}, versions=[1]) is None
    )
    assert await crud.delete_user(store, user_id=missing, versions=[1]) is False


async def test_update_merges_nested_objects(store: Store) -> None:
    user = await crud.create_user(store, data=course_user())

    updated = await crud.update_user(
        store, user_id=user["id"], changes={"experience": {"years": 9}}
    )

    assert updated is not None
    assert updated["experience"] == {"years": 9, "companies": ["Company A", "Company B"]}


async def test_replace_removes_fields_left_out(store: Store) -> None:
    user = await crud.create_user(store, data=course_user())

    replaced = await crud.replace_user(
        store,
        user_id=user["id"],
        data={"name": "B", "email": "b@example.com", "skills": [], "active": True},
    )

    assert replaced is not None
    assert "role" not in replaced
    assert "experience" not in replaced
    assert replaced["created_at"] == user["created_at"]


async def test_list_breaks_sort_ties_by_id_so_pages_never_overlap(store: Store) -> None:
    users: list[dict[str, Any]] = [
        await crud.create_user(store, data=course_user(name="Same", email=f"u{i}@example.com"))
        for i in range(7)
    ]

    pages = [
        (await crud.list_users(store, sort=sort, skip=skip, limit=3))["items"]
        for sort in ("name", "-name")
        for skip in (0, 3, 6)
    ]

    ascending = [user["id"] for page in pages[:3] for user in page]
    descending = [user["id"] for page in pages[3:] for user in page]
    assert ascending == [user["id"] for user in users]
    assert descending == ascending[::-1]


async def test_list_treats_filter_values_as_literals(store: Store) -> None:
    await crud.create_user(store, data=course_user(role="$ne"))
    await crud.create_user(store, data=course_user(email="other@example.com", role="Other"))

    page = await crud.list_users(store, filters={"role": "$ne"})

    assert page["total"] == 1
    assert page["items"][0]["role"] == "$ne"


async def test_list_returns_the_position_after_the_page_only_when_more_follow(store: Store) -> None:
    users = [
        await crud.create_user(store, data=course_user(email=f"u{i}@example.com")) for i in range(3)
    ]

    first = await crud.list_users(store, limit=2, count=False)
    last = await crud.list_users(store, limit=2, after=first["next"])

    assert first["total"] is None
    assert first["next"] == (users[1]["created_at"], users[1]["id"])
    assert [user["id"] for user in last["items"]] == [users[2]["id"]]
    assert last["next"] is None
