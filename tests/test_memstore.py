"""The indexed embedded store (api/memstore.py) against plain mongomock, and what it does not scan.

Equivalence: the same operations run on a collection of each, both behind mongomock-motor as the
service uses them, and every result and every raised error must be equal, and so must the stored
documents, in order. The no-scan tests count, with values that count their own comparisons and
copies, how many stored documents a query touches, at 100 and at 10,000 documents.
"""

import copy
import functools
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient
from pymongo import IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import crud
from api.db import USER_INDEXES, VERSION_INDEXES, Store, idempotency_indexes
from api.memstore import IndexedMongoClient

pytestmark = pytest.mark.asyncio

EPOCH = datetime(2026, 1, 1)
ROLES = ["DevOps Engineer", "SRE", "Data Scientist"]
SKILLS = ["Docker", "AWS", "Go", "Rust"]


async def _collections(name: str, indexes: list[Any]) -> list[Any]:
    """The `name` collection with `indexes` on plain mongomock and on the indexed store."""
    collections: list[Any] = []
    clients: list[Any] = [mongomock.MongoClient(), IndexedMongoClient()]
    for client in clients:
        collection: Any = AsyncMongoMockClient(mock_mongo_client=client)["test"][name]
        # One by one: mongomock's create_indexes drops partialFilterExpression.
        for model in indexes:
            options = dict(model.document)
            await collection.create_index(list(options.pop("key").items()), **options)
        collections.append(collection)
    return collections


async def users_pair() -> list[Any]:
    return await _collections("users", USER_INDEXES)


async def _outcome(operation: Callable[[Any], Any], collection: Any) -> Any:
    """What the operation gives: its result made comparable, or its error."""
    try:
        result = operation(collection)
        # A cursor (find) is not awaited; its documents are.
        result = await (result.to_list(None) if hasattr(result, "to_list") else result)
    except Exception as error:
        return ("raised", type(error), str(error), getattr(error, "details", None))
    for attribute in ("inserted_id", "inserted_ids", "deleted_count"):
        if hasattr(result, attribute):
            return (attribute, getattr(result, attribute))
    if hasattr(result, "raw_result"):  # without the connectionId, which numbers the clients
        return ("raw_result", {k: v for k, v in result.raw_result.items() if k != "connectionId"})
    return result


def _update_one(selector: Any, update: Any, collection: Any) -> Any:
    return collection.update_one(selector, update)


def _find(query: Any, collection: Any, **options: Any) -> Any:
    return collection.find(query, **options)


def _insert_copy(document: dict[str, Any], collection: Any) -> Any:
    return collection.insert_one(dict(document))


async def same(pair: list[Any], operation: Callable[[Any], Any]) -> Any:
    """Run the operation on both collections; assert equal outcomes and contents; return it."""
    plain, indexed = [await _outcome(operation, collection) for collection in pair]
    assert indexed == plain
    contents = [await collection.find({}).to_list(None) for collection in pair]
    assert contents[1] == contents[0]
    return indexed


def object_id(rng: random.Random) -> ObjectId:
    return ObjectId(rng.randbytes(12))


def user_document(rng: random.Random, _id: ObjectId, email_keys: list[str]) -> dict[str, Any]:
    return {
        "_id": _id,
        "name": f"user {rng.randrange(1000)}",
        "email_key": rng.choice(email_keys),
        "role": rng.choice(ROLES),
        "skills": rng.sample(SKILLS, rng.randrange(3)),
        "created_at": EPOCH + timedelta(seconds=rng.randrange(100)),
        "version": 1,
    }


def random_operation(rng: random.Random, ids: list[ObjectId], emails: list[str]) -> Callable:
    """One operation of the kinds api/crud.py issues, on existing or unknown ids and emails,
    and a few it does not (an update failing half way, an update of many)."""
    some_id = rng.choice(ids) if ids and rng.random() < 0.8 else object_id(rng)
    selector: dict[str, Any] = {"_id": some_id}
    if rng.random() < 0.3:
        selector["version"] = {"$in": [rng.randrange(1, 4)]}
    # Drawn here, not in the operation, which runs once per collection.
    email, skill, role = rng.choice(emails), rng.choice(SKILLS), rng.choice(ROLES)
    after = ReturnDocument.AFTER
    kind = rng.randrange(16)
    if kind == 0:
        new_id = object_id(rng) if rng.random() < 0.8 else some_id
        ids.append(new_id)
        document = user_document(rng, new_id, emails)
        return lambda c: c.insert_one(copy.deepcopy(document))
    if kind == 1:
        batch = [user_document(rng, object_id(rng), emails) for _ in range(rng.randrange(1, 5))]
        ids.extend(document["_id"] for document in batch)
        return lambda c: c.insert_many(copy.deepcopy(batch), ordered=False)
    if kind == 2:
        return lambda c: c.find_one(selector)
    if kind == 3:
        update = {"$set": {"email_key": email, "name": "renamed"}, "$inc": {"version": 1}}
        return lambda c: c.find_one_and_update(selector, update, return_document=after)
    if kind == 4:
        pinned = {**selector, "skills": {"$ne": skill}, "skills.2": {"$exists": False}}
        update = {"$push": {"skills": skill}, "$inc": {"version": 1}}
        return lambda c: c.find_one_and_update(pinned, update, return_document=after)
    if kind == 5:
        pinned = {**selector, "skills": skill}
        update = {"$pull": {"skills": skill}, "$inc": {"version": 1}}
        return lambda c: c.find_one_and_update(pinned, update, return_document=after)
    if kind == 6:
        update = {"$unset": {"email_key": ""}, "$inc": {"version": 1}}
        return lambda c: c.find_one_and_update(selector, update, return_document=after)
    if kind == 7:
        return lambda c: c.delete_one(selector)
    if kind == 8:
        return lambda c: c.update_one(selector, {"$set": {"role": role}})
    if kind == 9:
        # $set applies, then $inc fails on a string: mongomock keeps the half-done update.
        update = {"$set": {"email_key": email}, "$inc": {"name": 1}}
        return lambda c: c.update_one(selector, update)
    if kind == 10:
        return lambda c: c.update_many({"role": role}, {"$set": {"email_key": email}})
    if kind == 11:
        return lambda c: c.find_one({"email_key": email})
    if kind == 12:
        return lambda c: c.count_documents({"$and": [{"role": role}]})
    if kind == 13:
        field = rng.choice(["created_at", "name", "email_key"])
        direction = rng.choice([1, -1])
        skip, limit = rng.randrange(4), rng.randrange(5)
        projection = rng.choice([None, {"name": 1, field: 1}])
        return lambda c: c.find(
            {"$and": [{"role": role}]},
            projection,
            sort=[(field, direction), ("_id", direction)],
            skip=skip,
            limit=limit,
        )
    if kind == 14:
        return lambda c: c.find({"$and": [selector, {"version": {"$gte": 1}}]})
    return lambda c: c.replace_one(selector, {"name": "replaced", "email_key": email})


async def test_random_operations_give_mongomocks_results_errors_and_contents() -> None:
    rng = random.Random(20261201)
    pair = await users_pair()
    ids: list[ObjectId] = []
    emails = [f"user{number}@example.com" for number in range(150)]
    outcomes = []
    for _ in range(600):
        outcomes.append(await same(pair, random_operation(rng, ids, emails)))
    # The sequence went through the paths that matter, not only through their failures.
    raised = [o[1] for o in outcomes if isinstance(o, tuple) and o[0] == "raised"]
    assert raised.count(DuplicateKeyError) > 20
    assert BulkWriteError in raised
    assert TypeError in raised  # the half-done update
    assert sum(isinstance(outcome, dict) for outcome in outcomes) > 40  # found and updated
    assert sum(isinstance(outcome, list) and bool(outcome) for outcome in outcomes) > 20


async def test_cursors_skip_limit_slice_and_distinct_as_mongomock() -> None:
    rng = random.Random(7)
    pair = await users_pair()
    emails = [f"u{number}" for number in range(30)]
    documents = [user_document(rng, object_id(rng), emails) for _ in range(30)]
    await same(pair, lambda c: c.insert_many(copy.deepcopy(documents), ordered=False))
    by_name = [("name", 1), ("_id", 1)]
    await same(pair, lambda c: c.find({}, sort=by_name, skip=5, limit=-3))
    await same(pair, lambda c: c.find({}, {"_id": 0, "name": 1}, skip=28, limit=10))
    await same(pair, lambda c: c.find({}, skip=40))
    await same(pair, lambda c: c.find({"email_key": "u3"}, sort=by_name))
    # Indexing and slicing belong to mongomock's synchronous cursor.
    plain: Any = mongomock.MongoClient().test.users
    indexed: Any = IndexedMongoClient().test.users
    for collection in (plain, indexed):
        collection.insert_many(copy.deepcopy(documents))

    def read(collection: Any) -> list[Any]:
        cursor = collection.find({}).sort("created_at", -1)
        return [cursor[4], list(collection.find({})[2:6]), sorted(cursor.distinct("role"))]

    assert read(indexed) == read(plain)


async def test_a_duplicate_email_raises_mongomocks_error_with_its_details() -> None:
    pair = await users_pair()
    await same(pair, lambda c: c.insert_one({"_id": 1, "email_key": "a@example.com"}))
    error = await same(pair, lambda c: c.insert_one({"_id": 2, "email_key": "a@example.com"}))
    assert error[1] is DuplicateKeyError
    assert error[3] == {
        "keyValue": {"email_key": "a@example.com"},
        "keyPattern": {"email_key": 1},
    }
    # A duplicate _id is found in the store's dict, with the same (email) details as mongomock's.
    error = await same(pair, lambda c: c.insert_one({"_id": 1, "email_key": "b@example.com"}))
    assert error[1] is DuplicateKeyError


async def test_insert_many_unordered_stores_the_others_and_reports_each_duplicate() -> None:
    pair = await users_pair()
    await same(pair, lambda c: c.insert_one({"_id": 0, "email_key": "taken"}))
    batch = [
        {"_id": 1, "email_key": "one"},
        {"_id": 2, "email_key": "taken"},
        {"_id": 3, "email_key": "one"},
        {"_id": 4, "email_key": "four"},
    ]
    error = await same(pair, lambda c: c.insert_many(copy.deepcopy(batch), ordered=False))
    assert error[1] is BulkWriteError
    assert [(e["index"], e["code"]) for e in error[3]["writeErrors"]] == [(1, 11000), (2, 11000)]
    assert error[3]["nInserted"] == 2
    indexed = pair[1]
    assert [d["_id"] for d in await indexed.find({}).to_list(None)] == [0, 1, 4]


async def test_an_update_to_an_email_in_use_changes_nothing_and_a_freed_email_is_free() -> None:
    pair = await users_pair()
    batch = [{"_id": 1, "email_key": "a", "n": 1}, {"_id": 2, "email_key": "b", "n": 1}]
    await same(pair, lambda c: c.insert_many(copy.deepcopy(batch)))
    change = {"$set": {"email_key": "a", "n": 2}}
    error = await same(pair, lambda c: c.find_one_and_update({"_id": 2}, change))
    assert error[1] is DuplicateKeyError
    assert await pair[1].find_one({"_id": 2}) == {"_id": 2, "email_key": "b", "n": 1}
    # The maps follow a change made in place: "b" is free once user 2 moved to "c".
    await same(pair, lambda c: c.update_one({"_id": 2}, {"$set": {"email_key": "c"}}))
    assert (await same(pair, lambda c: c.insert_one({"_id": 3, "email_key": "b"}))) == (
        "inserted_id",
        3,
    )
    error = await same(pair, lambda c: c.insert_one({"_id": 4, "email_key": "c"}))
    assert error[1] is DuplicateKeyError


async def test_documents_sharing_a_unique_value_come_in_store_order() -> None:
    # mongomock checks no index when an update fails half way: then two documents can share
    # an email, and a query by it returns them as mongomock does, in insertion order.
    pair = await users_pair()
    ids = ["kiwi", "apple", "mango", "fig", "date", "lime", "pear"]
    documents = [{"_id": _id, "email_key": _id, "name": "x"} for _id in ids]
    await same(pair, lambda c: c.insert_many(copy.deepcopy(documents)))
    half_done = {"$set": {"email_key": "shared"}, "$inc": {"name": 1}}
    for _id in reversed(ids):
        await same(pair, functools.partial(_update_one, {"_id": _id}, half_done))
    found = await same(pair, lambda c: c.find({"email_key": "shared"}))
    assert [document["_id"] for document in found] == ids


async def test_values_matched_by_more_than_equality_fall_back_to_the_scan() -> None:
    pair = await users_pair()
    await same(pair, lambda c: c.insert_one({"_id": 1, "email_key": ["x", "y"]}))
    await same(pair, lambda c: c.insert_one({"_id": (1, 2), "email_key": "z"}))
    await same(pair, lambda c: c.find_one({"email_key": "y"}))  # an array contains it
    await same(pair, lambda c: c.find_one({"_id": 1}))
    error = await same(pair, lambda c: c.insert_one({"_id": 3, "email_key": "x"}))
    assert error[1] is DuplicateKeyError
    await same(pair, lambda c: c.delete_one({"_id": 1}))
    await same(pair, lambda c: c.insert_one({"_id": 3, "email_key": "x"}))


async def test_dropped_indexes_and_collections_leave_no_stale_keys() -> None:
    pair = await users_pair()
    await same(pair, lambda c: c.insert_one({"_id": 1, "email_key": "a"}))
    await same(pair, lambda c: c.drop_indexes())
    await same(pair, lambda c: c.insert_one({"_id": 2, "email_key": "a"}))
    await same(pair, lambda c: c.drop())
    await same(pair, lambda c: c.create_indexes(USER_INDEXES))
    await same(pair, lambda c: c.insert_one({"_id": 1, "email_key": "a"}))
    await same(pair, lambda c: c.find_one({"email_key": "a"}))


async def test_crud_on_the_embedded_store_refuses_a_taken_email_case_insensitively(
    store: Store,
) -> None:
    first = await crud.create_user(store, data={"name": "A", "email": "Ann@example.com"})
    second = await crud.create_user(store, data={"name": "B", "email": "bob@example.com"})
    with pytest.raises(crud.EmailTaken):
        await crud.create_user(store, data={"name": "C", "email": "ANN@example.com"})
    with pytest.raises(crud.EmailTaken):
        await crud.update_user(store, user_id=second["id"], changes={"email": "ann@EXAMPLE.com"})
    assert await crud.get_user(store, user_id=second["id"]) == second
    await crud.update_user(store, user_id=first["id"], changes={"email": "anna@example.com"})
    await crud.create_user(store, data={"name": "C", "email": "ann@example.com"})


# --- TTL -------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """mongomock's now (which both stores read through mongomock.utcnow), set by the test."""
    now = [EPOCH]
    monkeypatch.setattr(mongomock, "utcnow", lambda: now[0])
    return now


async def test_ttl_expiry_as_mongomock(clock: list[datetime]) -> None:
    pair = await _collections("idempotency_keys", idempotency_indexes(60))
    for minute in range(5):
        record = {"_id": f"key-{minute}", "created_at": EPOCH + timedelta(minutes=minute)}
        await same(pair, functools.partial(_insert_copy, record))
    await same(pair, lambda c: c.insert_one({"_id": "undated", "created_at": "yesterday"}))
    clock[0] = EPOCH + timedelta(minutes=1, seconds=30)  # key-0 is 90 s old
    # Moved forward: key-1 would expire with its old date, but not with the new one.
    moved = {"$set": {"created_at": EPOCH + timedelta(minutes=10)}}
    await same(pair, lambda c: c.update_one({"_id": "key-1"}, moved))
    assert await same(pair, lambda c: c.find_one({"_id": "key-0"})) is None
    clock[0] = EPOCH + timedelta(minutes=4)
    await same(pair, lambda c: c.find_one({"_id": "key-2"}))
    # An expired key can be claimed again.
    await same(pair, lambda c: c.insert_one({"_id": "key-2", "created_at": clock[0]}))
    remaining = await same(pair, lambda c: c.find({}))
    assert [d["_id"] for d in remaining] == ["key-1", "key-4", "undated", "key-2"]
    clock[0] = EPOCH + timedelta(hours=1)
    assert await same(pair, lambda c: c.count_documents({})) == 1  # "undated" never expires


# --- what is not scanned -----------------------------------------------------------------------


class CountingId(ObjectId):
    """An ObjectId counting the comparisons made with it: one per document the matcher tests."""

    comparisons = 0
    __hash__ = ObjectId.__hash__

    def __eq__(self, other: object) -> bool:
        CountingId.comparisons += 1
        return super().__eq__(other)


class CountingEmail(str):
    """An email key counting comparisons (it is the right operand, and a subclass: asked first)."""

    comparisons = 0
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        CountingEmail.comparisons += 1
        return super().__eq__(other)


class CountingCopies(str):
    """A stored value counting the copies mongomock makes of it: one per document copied."""

    copies = 0

    def __copy__(self) -> "CountingCopies":
        CountingCopies.copies += 1
        return self


class CountingDate(datetime):
    """A date counting how often mongomock's TTL check measures its age."""

    ages = 0

    def __rsub__(self, other: datetime) -> timedelta:
        CountingDate.ages += 1
        # The C type defines __rsub__, which typeshed's datetime leaves out.
        return datetime.__rsub__(self, other)  # type: ignore[attr-defined]


async def _users(client: Any, size: int) -> tuple[Any, list[ObjectId]]:
    users: Any = AsyncMongoMockClient(mock_mongo_client=client)["test"]["users"]
    await users.create_indexes(USER_INDEXES)
    documents = [
        {"name": f"user {n:05}", "email_key": f"user{n}", "probe": CountingCopies("p")}
        for n in range(size)
    ]
    result = await users.insert_many(documents)
    return users, result.inserted_ids


async def _touched(users: Any, ids: list[ObjectId]) -> dict[str, int]:
    """How many documents a get by id, an insert and a page of 20 compare or copy."""
    CountingId.comparisons = CountingEmail.comparisons = CountingCopies.copies = 0
    found = await users.find_one({"_id": CountingId(ids[len(ids) // 2]), "version": None})
    assert found is not None
    touched = {"get compares": CountingId.comparisons, "get copies": CountingCopies.copies}
    await users.insert_one({"email_key": CountingEmail("new"), "probe": CountingCopies("p")})
    touched["insert compares"] = CountingEmail.comparisons
    CountingCopies.copies = 0
    page = await users.find({}, sort=[("name", 1)], skip=40, limit=20).to_list(None)
    assert len(page) == 20
    touched["page copies"] = CountingCopies.copies
    return touched


async def test_a_get_an_insert_and_a_page_touch_as_many_documents_among_10000_as_100() -> None:
    small = await _touched(*await _users(IndexedMongoClient(), 100))
    large = await _touched(*await _users(IndexedMongoClient(), 10_000))
    assert large == small
    assert small["get copies"] == 1
    assert small["get compares"] <= 3  # the dict's key, then the matcher
    assert small["insert compares"] <= 3
    assert small["page copies"] == 20
    # The probes do see a scan: plain mongomock tests and copies every document.
    plain = await _touched(*await _users(mongomock.MongoClient(), 200))
    assert plain["get compares"] >= 200
    assert plain["insert compares"] >= 200
    assert plain["page copies"] >= 200


async def test_ttl_expiry_does_not_measure_every_record(clock: list[datetime]) -> None:
    keys: Any = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())["test"]["keys"]
    await keys.create_indexes(idempotency_indexes(60))
    for size in (100, 10_000):
        await keys.delete_many({})
        await keys.insert_many(
            [{"_id": f"{n}", "created_at": CountingDate(2026, 1, 1)} for n in range(size)]
        )
        CountingDate.ages = 0
        assert await keys.find_one({"_id": "7"}) is not None
        await keys.insert_one({"_id": "new", "created_at": clock[0]})
        assert CountingDate.ages <= 4  # the oldest record's age, once per access


async def test_documents_that_cannot_expire_are_not_kept_for_the_ttl(
    clock: list[datetime],
) -> None:
    versions: Any = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())["test"]["v"]
    await versions.create_indexes(VERSION_INDEXES)  # a TTL index on `expire_at`
    # A live user's versions have no `expire_at`.
    await versions.insert_many([{"_id": n, "user_id": 1, "version": n} for n in range(100)])
    for _id, user_id, expire_at in [("kept", 2, datetime.max), ("going", 3, clock[0])]:
        await versions.insert_one(
            {"_id": _id, "user_id": user_id, "version": 1, "expire_at": expire_at}
        )

    clock[0] += timedelta(seconds=1)
    remaining = {document["_id"] async for document in versions.find({}, {"_id": 1})}

    assert remaining == {*range(100), "kept"}  # as mongomock: only the dated one expired
    # The undated versions were never on the heap of dates to expire.
    assert [key for *_, key in versions._store._dates["expire_at"].heap] == ["kept"]


class CountingRole(str):
    """A queried role counting comparisons (the right operand, and a subclass: asked first)."""

    comparisons = 0
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        CountingRole.comparisons += 1
        return super().__eq__(other)


async def test_a_filter_on_an_indexed_field_tests_only_the_documents_holding_its_value() -> None:
    users: Any = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())["test"]["users"]
    await users.create_indexes(USER_INDEXES)  # role leads the role_created_at index
    roles = ["rare" if n % 1000 == 0 else "common" for n in range(10_000)]
    await users.insert_many(
        [{"email_key": f"u{n}", "role": role, "name": f"{n}"} for n, role in enumerate(roles)]
    )
    CountingRole.comparisons = 0

    total = await users.count_documents({"role": CountingRole("rare")})
    page = await users.find({"role": CountingRole("rare")}, sort=[("name", 1)], limit=5).to_list(
        None
    )

    assert total == 10
    assert [user["name"] for user in page] == ["0", "1000", "2000", "3000", "4000"]
    assert CountingRole.comparisons <= 5 * 10  # a few per holder (10), not one per user (10,000)


async def test_a_fields_map_is_built_by_the_first_query_pinning_it_from_every_earlier_write() -> (
    None
):
    pair = await users_pair()
    documents = [
        {"_id": n, "email_key": f"u{n}", "role": ROLES[n % 3], "name": f"{n}"} for n in range(30)
    ]
    await same(pair, lambda c: c.insert_many(copy.deepcopy(documents)))
    for n in range(0, 30, 4):  # moved to another role, in place and by replacement
        await same(pair, functools.partial(_update_one, {"_id": n}, {"$set": {"role": "SRE"}}))
    await same(pair, lambda c: c.replace_one({"_id": 5}, {"email_key": "u5", "role": "SRE"}))
    await same(pair, lambda c: c.delete_many({"_id": {"$in": [1, 2, 3]}}))
    # Only the unique key's map exists yet: inserts and updates check it. Dates and names,
    # which lead indexes too, are never looked up by one value, and get none.
    assert set(pair[1]._store._maps) == {"email_key"}

    for role in ROLES:
        await same(pair, functools.partial(_find, {"role": role}))
    await same(pair, functools.partial(_update_one, {"_id": 4}, {"$set": {"role": "Data"}}))
    found = await same(pair, functools.partial(_find, {"role": "Data"}))

    assert [document["_id"] for document in found] == [4]
    assert set(pair[1]._store._maps) == {"email_key", "role"}


async def test_sorts_order_as_mongomock_with_ties_mixed_types_and_missing_fields() -> None:
    rng = random.Random(11)
    pair = await users_pair()
    emails = [f"s{number}" for number in range(40)]
    documents = [user_document(rng, object_id(rng), emails) for _ in range(40)]
    for number, document in enumerate(documents):
        document["created_at"] = EPOCH + timedelta(days=number % 4)  # ties, broken by _id
        document["rank"] = number % 3  # integers with ties
    await same(pair, lambda c: c.insert_many(copy.deepcopy(documents), ordered=False))
    orders = [
        [("created_at", -1), ("_id", -1)],
        [("created_at", 1), ("_id", -1)],
        [("rank", 1), ("name", -1)],
        [("rank", -1)],  # ties keep store order, as mongomock's stable sort does
        [("email_key", 1)],
    ]
    for order in orders:
        await same(pair, functools.partial(_find, {}, sort=order, skip=3, limit=20))
        await same(pair, functools.partial(_find, {"role": ROLES[0]}, sort=order))
    # Values mongomock orders across types (and absent fields): its own sort, the same answer.
    changes = [{"$set": {"rank": "x"}}, {"$unset": {"rank": 1}}, {"$set": {"rank": [2, 0]}}]
    for document, change in zip(documents, [*changes, {"$set": {"rank": 1.5}}], strict=False):
        await same(pair, functools.partial(_update_one, {"_id": document["_id"]}, change))
    mixed = [[("rank", 1), ("_id", 1)], [("rank", -1), ("_id", -1)], [("experience.years", 1)]]
    for order in mixed:
        await same(pair, functools.partial(_find, {}, sort=order))


# --- index options: partial filters, TTL, re-creation ------------------------------------------


async def test_the_partial_email_index_counts_live_users_only_as_mongomock() -> None:
    pair = await users_pair()
    for number in range(3):  # in the trash: no email_key, so outside the partial index
        trashed = {"_id": number, "deleted_email_key": "a"}
        await same(pair, functools.partial(_insert_copy, trashed))
    await same(pair, lambda c: c.insert_one({"_id": 10, "email_key": "a"}))
    outcome = await same(pair, lambda c: c.insert_one({"_id": 11, "email_key": "a"}))
    assert outcome[0] == "raised"
    assert outcome[1] is DuplicateKeyError
    # Restoring a trashed user whose key is live again is refused; another one is not.
    rename = {"$rename": {"deleted_email_key": "email_key"}}
    refused = await same(pair, lambda c: c.update_one({"_id": 0}, rename))
    assert refused[1] is DuplicateKeyError
    await same(pair, lambda c: c.update_one({"_id": 10}, {"$set": {"email_key": "b"}}))
    await same(pair, lambda c: c.update_one({"_id": 0}, rename))


async def test_creating_indexes_again_or_over_the_trash_is_as_mongodb() -> None:
    users: Any = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())["test"]["users"]
    await users.insert_many([{"deleted_email_key": "a"}, {"deleted_email_key": "b"}])
    await users.create_indexes(USER_INDEXES)  # unique among the live: none yet
    await users.insert_one({"email_key": "a"})
    await users.create_indexes(USER_INDEXES)  # the same again: nothing to do
    info = await users.index_information()
    assert info["email_key_live_unique"]["partialFilterExpression"] == {
        "email_key": {"$exists": True}
    }
    await users.insert_one({"email_key": "b"})
    with pytest.raises(DuplicateKeyError):
        await users.create_index("email_key", unique=True, name="email_key_every")


@pytest.mark.usefixtures("clock")  # now is EPOCH
async def test_a_partial_ttl_index_expires_only_what_its_filter_selects() -> None:
    old = EPOCH - timedelta(hours=1)
    index = IndexModel(
        [("at", 1)], name="ttl", expireAfterSeconds=60, partialFilterExpression={"kind": "trash"}
    )
    collection: Any = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())["test"]["t"]
    await collection.create_indexes([index])
    await collection.insert_many(
        [{"_id": 1, "kind": "trash", "at": old}, {"_id": 2, "kind": "live", "at": old}]
    )

    assert [document["_id"] for document in await collection.find({}).to_list(None)] == [2]
    await collection.update_one({"_id": 2}, {"$set": {"kind": "trash"}})
    assert await collection.find({}).to_list(None) == []


async def test_existence_tests_after_a_pinned_value_match_as_mongomock() -> None:
    rng = random.Random(5)
    pair = await users_pair()
    documents = [user_document(rng, object_id(rng), [f"e{n}"]) for n in range(30)]
    for number, document in enumerate(documents):
        if number % 3 == 0:
            document["deleted_at"] = EPOCH
        elif number % 3 == 1:
            document["deleted_at"] = None  # present, though None: $exists holds
    inserted = await same(pair, lambda c: c.insert_many(copy.deepcopy(documents)))
    assert inserted[0] == "inserted_ids"
    assert len(inserted[1]) == 30
    for role in ROLES:
        for exists in (False, True):
            query = {"role": role, "deleted_at": {"$exists": exists}}
            assert await same(pair, functools.partial(_find, query))  # some match each
            query = {"role": role, "deleted_at": {"$exists": exists}, "skills": {"$exists": True}}
            await same(pair, functools.partial(_find, query))
    await same(pair, functools.partial(_find, {"_id": documents[0]["_id"], "version": 1}))
