"""Users' versions: the state every write produced, in a collection of its own.

A version record (collection `user_versions`, unique on `user_id, version`):

    {"user_id": ObjectId, "version": 3, "written_at": datetime, "written_by": "ops" | None,
     "operation": "update", "user": {the user's fields as stored, without internal keys},
     "expire_at": datetime}        # only while the user is in the trash: it goes with the user

`version` is the user's (the ETag's number). `written_by` is the name of the API key that wrote
it (None without API keys), `operation` one of OPERATIONS (None for a state written before
history was kept).

How a write is recorded (api/crud.py): the user is written first, in one atomic
find-and-modify that returns the state it replaced; then one insert adds the new state, and
the replaced state too. The stored user carries its writer and operation (`change`), so the
replaced state's record is exactly what its own write recorded (or would have): the insert
normally finds it there already, and the duplicate is refused by the unique index and ignored.
So the crash windows are:

- a write that stored the user but not its version (the process died, or MongoDB went away
  between the two steps; the client got a 503 or nothing) is repaired by the next write of that
  user, which records the missing version; until then the versions read the user itself as its
  current version, so nothing is missing from what the API serves;
- a version is lost for good only if the next write of that user fails between its two steps
  too: the listing then shows a gap in the version numbers;
- the reverse (a version stored but not the user) cannot happen: a version is inserted only
  after its user write succeeded, and a refused write (412, 409) records nothing.

HISTORY_MAX_VERSIONS bounds the versions kept per user (older ones are deleted by the write
that goes past it, concurrently with its insert); 0 keeps none. No Flask here: the writer's key
name comes through AUTHOR, which the HTTP layer sets per request (api/security.py).
"""

import asyncio
import contextvars
import copy
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api.db import Store, storage_operation

# What a write was: the `operation` of the version it produced.
OPERATIONS = (
    "create",
    "replace",
    "update",
    "add_skill",
    "remove_skill",
    "delete",
    "restore",
    "restore_version",
)

# The name of the API key writing in the current request; None without API keys.
AUTHOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("author", default=None)

# A stored user in the trash has `deleted_at`; a live one has not (and holds `email_key`).
LIVE_USER: dict[str, Any] = {"deleted_at": {"$exists": False}}

# Fields of a stored user that are not part of its state as the API shows it.
INTERNAL = frozenset({"_id", "email_key", "deleted_email_key", "change", "version"})

DUPLICATE_KEY = 11000


def stamp(operation: str) -> dict[str, Any]:
    """The fields every write sets on the user besides its own: who wrote it, and how."""
    return {"change": {"operation": operation, "by": AUTHOR.get()}}


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _container(document: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    """The object holding the last part of a dotted path, created on the way (as $set does)."""
    *parents, last = path.split(".")
    current: Any = document
    for part in parents:
        if not isinstance(current.get(part), dict):
            current[part] = {}
        current = current[part]
    return current, last


def apply_update(document: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The document MongoDB stores when it applies `update` to `document`.

    For the operators api/crud.py writes with, none of them on overlapping paths: `$set` and
    `$unset` (dotted paths), `$inc`, `$push` and `$pull` (one value, top-level arrays) and
    `$rename` (top-level). tests/test_history.py checks the result against what was stored.
    """
    result = copy.deepcopy(dict(document))
    for path, value in update.get("$set", {}).items():
        parent, key = _container(result, path)
        assert parent is not None
        parent[key] = copy.deepcopy(value)
    for path in update.get("$unset", {}):
        *parents, last = path.split(".")
        holder: Any = result
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(last, None)
    for name, step in update.get("$inc", {}).items():
        result[name] = result.get(name, 0) + step
    for name, value in update.get("$push", {}).items():
        result[name] = [*result.get(name, []), value]
    for name, value in update.get("$pull", {}).items():
        result[name] = [item for item in result.get(name, []) if item != value]
    for old, new in update.get("$rename", {}).items():
        if old in result:
            result[new] = result.pop(old)
    return result


def _record(document: Mapping[str, Any], trash_ttl_seconds: int) -> dict[str, Any]:
    """The version record of a stored user document."""
    change = document.get("change") or {}
    record: dict[str, Any] = {
        "user_id": document["_id"],
        "version": document["version"],
        "written_at": document.get("updated_at"),
        "written_by": change.get("by"),
        "operation": change.get("operation"),
        "user": {key: value for key, value in document.items() if key not in INTERNAL},
    }
    if document.get("deleted_at") is not None:
        record["expire_at"] = _expiry(document["deleted_at"], trash_ttl_seconds)
    return record


def _expiry(deleted_at: datetime, trash_ttl_seconds: int) -> datetime:
    return deleted_at + timedelta(seconds=trash_ttl_seconds)


async def record(
    store: Store, *, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> None:
    """Record the state a write produced (`after`), and the one it replaced (`before`, if it
    had one) in case its own write did not record it: one insert.

    A write that takes the user past HISTORY_MAX_VERSIONS also deletes its oldest versions,
    concurrently with the insert. A write sending the user to the trash, or bringing it back,
    then sets (or clears) the expiry of its other versions.
    """
    keep = store.history_max_versions
    if keep == 0:
        return
    ttl = store.trash_ttl_seconds
    oldest_kept = after["version"] - keep + 1
    records = [_record(after, ttl)]
    if before is not None and before["version"] >= oldest_kept:
        records.insert(0, _record(before, ttl))
    versions = await store.user_versions()
    steps: list[Awaitable[Any]] = [_insert(versions, records)]
    if oldest_kept > 1:
        old = {"user_id": after["_id"], "version": {"$lt": oldest_kept}}
        steps.append(versions.delete_many(old))
    if len(steps) == 1:
        await steps[0]
    else:
        await asyncio.gather(*steps)
    was_deleted = before is not None and before.get("deleted_at") is not None
    deleted = after.get("deleted_at") is not None
    if deleted and not was_deleted:
        expire_at = _expiry(after["deleted_at"], ttl)
        unmarked = {"user_id": after["_id"], "expire_at": {"$exists": False}}
        await versions.update_many(unmarked, {"$set": {"expire_at": expire_at}})
    elif was_deleted and not deleted:
        await versions.update_many({"user_id": after["_id"]}, {"$unset": {"expire_at": ""}})


async def record_created(store: Store, *, documents: Sequence[Mapping[str, Any]]) -> None:
    """Record the first version of each new user: one insert for all of them."""
    if store.history_max_versions == 0 or not documents:
        return
    versions = await store.user_versions()
    await _insert(versions, [_record(document, store.trash_ttl_seconds) for document in documents])


async def _insert(versions: Any, records: list[dict[str, Any]]) -> None:
    """Insert the records; one already there (same user and version) is left as it is."""
    try:
        if len(records) == 1:
            await versions.insert_one(records[0])
        else:
            await versions.insert_many(records, ordered=False)
    except DuplicateKeyError:
        pass
    except BulkWriteError as error:
        if any(failure["code"] != DUPLICATE_KEY for failure in error.details["writeErrors"]):
            raise


def _served(record: Mapping[str, Any]) -> dict[str, Any]:
    """A version as storage functions return it: the user with `id`, dates in UTC."""
    user = dict(record["user"])
    user["id"] = str(record["user_id"])
    for name in ("created_at", "updated_at", "deleted_at"):
        if isinstance(user.get(name), datetime):
            user[name] = _as_utc(user[name])
    written_at = record.get("written_at")
    return {
        "version": record["version"],
        "written_at": _as_utc(written_at) if isinstance(written_at, datetime) else None,
        "written_by": record.get("written_by"),
        "operation": record.get("operation"),
        "user": user,
    }


async def _live_user(store: Store, user_id: str) -> dict[str, Any] | None:
    users = await store.users()
    document: dict[str, Any] | None = await users.find_one({"_id": ObjectId(user_id), **LIVE_USER})
    return document


@storage_operation
async def list_versions(
    store: Store, *, user_id: str, skip: int, limit: int
) -> dict[str, Any] | None:
    """One page of the user's versions, newest first: {"items": [...], "total": int}; None
    when there is no such user (or it is in the trash).

    The current version is always listed: when its write did not get to record it, it is
    read from the user itself.
    """
    user = await _live_user(store, user_id)
    if user is None:
        return None
    versions = await store.user_versions()
    oid = user["_id"]
    current = await versions.find_one({"user_id": oid, "version": user["version"]}, {"_id": 1})
    unrecorded = 1 if current is None else 0
    items = []
    if unrecorded and skip == 0:
        items.append(_served(_record(user, store.trash_ttl_seconds)))
        limit -= 1
    if limit > 0:
        cursor = versions.find(
            {"user_id": oid},
            sort=[("version", DESCENDING)],
            skip=max(0, skip - unrecorded),
            limit=limit,
        )
        items.extend(_served(record) for record in await cursor.to_list(length=None))
    total = await versions.count_documents({"user_id": oid}) + unrecorded
    return {"items": items, "total": total}


@storage_operation
async def get_version(store: Store, *, user_id: str, version: int) -> dict[str, Any] | None:
    """The user's version `version`, or None when the user or that version is not there."""
    user = await _live_user(store, user_id)
    if user is None:
        return None
    versions = await store.user_versions()
    found = await versions.find_one({"user_id": user["_id"], "version": version})
    if found is None and version == user["version"]:
        found = _record(user, store.trash_ttl_seconds)
    return None if found is None else _served(found)
