"""Async storage functions for users: plain dicts in, plain dicts out, no HTTP.

A stored user document carries, besides the API fields:
- `email_key`: the case-folded email, under a unique index, so uniqueness is enforced by MongoDB
  (never check-then-insert) and is case-insensitive while `email` keeps the spelling given;
- `version`: incremented by every write; the ETag is derived from it and conditional writes
  (If-Match) filter on it, so a stale write is refused atomically by the write itself.

Returned users have `id` (24 hex characters) instead of `_id`, and `version`.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from api.db import Store, storage_operation

# The fields a client can write; a replacement removes the ones it leaves out.
USER_FIELDS = ("name", "email", "role", "skills", "experience", "active")

# API sort key -> stored field
SORT_FIELDS = {"created_at": "created_at", "name": "name", "email": "email_key"}


class EmailTaken(Exception):
    """Another user already has this email (compared case-insensitively)."""


class VersionMismatch(Exception):
    """The user exists, but none of the expected versions is the current one."""


def _now() -> datetime:
    # MongoDB keeps milliseconds: truncate now so the returned value equals the stored one.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _email_key(email: str) -> str:
    return email.casefold()


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _to_user(document: Mapping[str, Any]) -> dict[str, Any]:
    user = {key: value for key, value in document.items() if key not in ("_id", "email_key")}
    user["id"] = str(document["_id"])
    user["created_at"] = _as_utc(document["created_at"])
    user["updated_at"] = _as_utc(document["updated_at"])
    return user


def _selector(user_id: str, versions: list[int] | None) -> dict[str, Any]:
    selector: dict[str, Any] = {"_id": ObjectId(user_id)}
    if versions is not None:
        selector["version"] = {"$in": versions}
    return selector


def _flatten(changes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted paths, so a partial update merges into them."""
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@storage_operation
async def create_user(db: Store, *, data: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new user and return it.

    Raises EmailTaken when the email is in use.
    """
    now = _now()
    document = {
        **data,
        "email_key": _email_key(data["email"]),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    users = await db.users()
    try:
        await users.insert_one(document)
    except DuplicateKeyError:
        raise EmailTaken(data["email"]) from None
    return _to_user(document)


@storage_operation
async def get_user(db: Store, *, user_id: str) -> dict[str, Any] | None:
    """Return the user, or None when there is none with this id."""
    users = await db.users()
    document = await users.find_one({"_id": ObjectId(user_id)})
    return None if document is None else _to_user(document)


@storage_operation
async def list_users(
    db: Store,
    *,
    role: str | None = None,
    active: bool | None = None,
    skill: str | None = None,
    sort: str = "created_at",
    skip: int = 0,
    limit: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of users matching every given filter, and how many match in all.

    `sort` is a key of SORT_FIELDS, prefixed with "-" for descending order; ties are broken by
    id in the same direction, so pages never overlap.
    """
    query: dict[str, Any] = {}
    if role is not None:
        query["role"] = role
    if active is not None:
        query["active"] = active
    if skill is not None:
        query["skills"] = skill
    direction = DESCENDING if sort.startswith("-") else ASCENDING
    field = SORT_FIELDS[sort.lstrip("-")]
    users = await db.users()
    # The limit goes to find(), so the server applies it (mongomock-motor's to_list ignores
    # its length argument).
    cursor = users.find(
        query, sort=[(field, direction), ("_id", direction)], skip=skip, limit=limit
    )
    documents = await cursor.to_list(length=None)
    total = await users.count_documents(query)
    return [_to_user(document) for document in documents], total


async def _raise_if_exists(db: Store, user_id: str) -> None:
    """After a conditional write matched nothing: tell a stale version from a missing user."""
    if await get_user(db, user_id=user_id) is not None:
        raise VersionMismatch(user_id)


@storage_operation
async def replace_user(
    db: Store, *, user_id: str, data: Mapping[str, Any], versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Replace every writable field and return the user, or None when there is no such user.

    Fields absent from `data` are removed. With `versions`, the write happens only when the
    stored version is one of them; otherwise VersionMismatch. Raises EmailTaken when the new
    email belongs to another user.
    """
    absent = {field: "" for field in USER_FIELDS if field not in data}
    update: dict[str, Any] = {
        "$set": {**data, "email_key": _email_key(data["email"]), "updated_at": _now()},
        "$inc": {"version": 1},
    }
    if absent:
        update["$unset"] = absent
    return await _update(db, user_id=user_id, update=update, versions=versions)


@storage_operation
async def update_user(
    db: Store, *, user_id: str, changes: Mapping[str, Any], versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Apply the given field changes (nested objects merge) and return the user, or None.

    An empty change set writes nothing. `versions` and errors are as for replace_user.
    """
    if not changes:
        users = await db.users()
        document = await users.find_one(_selector(user_id, versions))
        if document is None:
            await _raise_if_exists(db, user_id)
            return None
        return _to_user(document)
    fields = _flatten(changes)
    if "email" in fields:
        fields["email_key"] = _email_key(fields["email"])
    update = {"$set": {**fields, "updated_at": _now()}, "$inc": {"version": 1}}
    return await _update(db, user_id=user_id, update=update, versions=versions)


async def _update(
    db: Store, *, user_id: str, update: Mapping[str, Any], versions: list[int] | None
) -> dict[str, Any] | None:
    users = await db.users()
    try:
        document = await users.find_one_and_update(
            _selector(user_id, versions), update, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        raise EmailTaken(update["$set"]["email"]) from None
    if document is None:
        await _raise_if_exists(db, user_id)
        return None
    return _to_user(document)


@storage_operation
async def delete_user(db: Store, *, user_id: str, versions: list[int] | None = None) -> bool:
    """Delete the user; return False when there was none. VersionMismatch as for replace_user."""
    users = await db.users()
    result = await users.delete_one(_selector(user_id, versions))
    if result.deleted_count == 0:
        await _raise_if_exists(db, user_id)
        return False
    return True
