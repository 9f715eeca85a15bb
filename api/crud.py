"""Async storage functions for users: plain dicts in, plain dicts out, no HTTP.

A stored user document carries, besides the API fields:
- `email_key`: the mailbox the email names (api/emails.py: NFC, case-folded, the domain mapped by
  IDNA UTS 46), under a unique index, so uniqueness is enforced by MongoDB (never
  check-then-insert) and every spelling of one mailbox is one user, while `email` keeps the
  spelling given;
- `version`: incremented by every write; the ETag is derived from it and conditional writes
  (If-Match) filter on it, so a stale write is refused atomically by the write itself;
- `change`: who made the last write and how (api/history.py records each write's outcome as a
  version, and reads it there);
- in the trash only (soft delete): `deleted_at`, and `deleted_email_key` instead of
  `email_key`, so the unique index (partial: live users only) leaves the email free. Every read
  and write but the trash's own filters on LIVE_USER.

Returned users have `id` (24 hex characters) instead of `_id`, and `version`.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import emails, history
from api.db import Store, as_utc, now, storage_operation
from api.history import LIVE_USER

# The fields a client can write; a replacement removes the ones it leaves out.
USER_FIELDS = ("name", "email", "role", "skills", "experience", "active")

DUPLICATE_KEY = 11000

# stored field -> (filter name, operator) of its bounds
RANGE_FILTERS = {
    "experience.years": (("min_years", "$gte"), ("max_years", "$lte")),
    "created_at": (("created_after", "$gt"), ("created_before", "$lt")),
}

# API sort key -> stored field
SORT_FIELDS = {"created_at": "created_at", "name": "name", "email": "email_key"}


class EmailTaken(Exception):
    """Another user already has this email (compared case-insensitively)."""


class VersionMismatch(Exception):
    """The user exists, but none of the expected versions is the current one."""


class TooManySkills(Exception):
    """Adding the skill would take the user past the maximum number of skills."""


def _email_key(email: str) -> str:
    return emails.mailbox_key(email)


def _position(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


HIDDEN = ("email_key", "deleted_email_key", "change")


def _to_user(document: dict[str, Any]) -> dict[str, Any]:
    """The API's user made of a stored document, in place: every caller's document is its own
    (a copy read from the store, or one it has just written), used no more after this."""
    user_id = document.pop("_id")
    for key in HIDDEN:
        document.pop(key, None)
    document["id"] = str(user_id)
    for name in ("created_at", "updated_at", "deleted_at"):
        if name in document:
            document[name] = as_utc(document[name])
    return document


def _new_document(data: Mapping[str, Any], created: datetime) -> dict[str, Any]:
    return {
        **data,
        "email_key": _email_key(data["email"]),
        "created_at": created,
        "updated_at": created,
        "version": 1,
        **history.stamp("create"),
    }


def _selector(
    user_id: str, versions: list[int] | None, state: Mapping[str, Any] = LIVE_USER
) -> dict[str, Any]:
    """The user by id, in `state` (live unless told), at one of `versions` when given."""
    selector: dict[str, Any] = {"_id": ObjectId(user_id), **state}
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
async def create_user(store: Store, *, data: Mapping[str, Any]) -> dict[str, Any]:
    """Store a new user and return it.

    Raises EmailTaken when the email is in use.
    """
    document = _new_document(data, now())
    users = await store.users()
    try:
        await users.insert_one(document)
    except DuplicateKeyError:
        raise EmailTaken(data["email"]) from None
    await history.record_created(store, documents=[document])
    return _to_user(document)


@storage_operation
async def create_users(
    store: Store, *, items: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any] | None]:
    """Store several new users in one round trip; return each user, or None where its email
    was in use (by another user or an earlier item). The others are stored regardless."""
    moment = now()
    documents = [_new_document(data, moment) for data in items]
    taken: set[int] = set()
    if documents:
        users = await store.users()
        try:
            await users.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(failure["code"] != DUPLICATE_KEY for failure in failures):
                raise
            taken = {failure["index"] for failure in failures}
        created = [doc for index, doc in enumerate(documents) if index not in taken]
        await history.record_created(store, documents=created)
    return [None if index in taken else _to_user(doc) for index, doc in enumerate(documents)]


@storage_operation
async def get_user(store: Store, *, user_id: str) -> dict[str, Any] | None:
    """Return the user, or None when there is none with this id."""
    users = await store.users()
    document = await users.find_one(_selector(user_id, None))
    return None if document is None else _to_user(document)


def _filter_conditions(filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """MongoDB conditions for the list filters. Values are typed by the caller's schema and
    are only ever compared as values: no key, operator or pattern comes from the client."""
    conditions: list[dict[str, Any]] = []
    if filters.get("role") is not None:
        conditions.append({"role": filters["role"]})
    if filters.get("active") is not None:
        conditions.append({"active": filters["active"]})
    if filters.get("skill"):
        conditions.append({"skills": {"$all": list(filters["skill"])}})
    if filters.get("company") is not None:
        conditions.append({"experience.companies": filters["company"]})
    for field, bounds in RANGE_FILTERS.items():
        bound = {op: filters[name] for name, op in bounds if filters.get(name) is not None}
        if bound:
            conditions.append({field: bound})
    if filters.get("q") is not None:
        pattern = {"$regex": re.escape(filters["q"]), "$options": "i"}
        conditions.append({"$or": [{"name": pattern}, {"email": pattern}]})
    # Last, so that an indexed equality stays the first condition (api/memstore.py).
    if filters.get("deleted"):
        conditions.append({"deleted_at": {"$gt": filters["trashed_after"]}})
    else:
        conditions.append(LIVE_USER)
    return conditions


def filter_query(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The MongoDB filter of live users matching every list filter (api/stats.py's too)."""
    return _all_of(_filter_conditions(filters))


def _all_of(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """One filter matching every condition: their keys in one document when no two share a key
    (what MongoDB reads as AND, and mongomock tests faster than a `$and`), else a `$and`."""
    merged: dict[str, Any] = {}
    for condition in conditions:
        if merged.keys() & condition.keys():
            return {"$and": conditions}
        merged.update(condition)
    return merged


@storage_operation
async def list_users(
    store: Store,
    *,
    filters: Mapping[str, Any] | None = None,
    sort: str = "created_at",
    skip: int = 0,
    after: tuple[Any, str] | None = None,
    limit: int = 20,
    fields: Sequence[str] | None = None,
    count: bool = True,
) -> dict[str, Any]:
    """Return one page of users matching every filter.

    `sort` is a key of SORT_FIELDS, prefixed with "-" for descending order; ties are broken by
    id in the same direction, so pages never overlap. The page starts `skip` users in, or just
    after the (sort value, id) position `after`. `fields` limits the fields returned (`id`
    always is). Returns {"items": [...], "total": int or None unless `count`, "next": the
    (sort value, id) position after the last item, or None when no user follows}.
    """
    descending = sort.startswith("-")
    field = SORT_FIELDS[sort.lstrip("-")]
    direction = DESCENDING if descending else ASCENDING
    filters = dict(filters or {})
    if filters.get("deleted"):  # the trash, without what is past TRASH_TTL_SECONDS
        filters["trashed_after"] = _trash_cutoff(store)
        if field == "email_key":
            field = "deleted_email_key"
    conditions = _filter_conditions(filters)
    query = _all_of(conditions)
    if after is not None:
        value, user_id = after
        beyond = "$lt" if descending else "$gt"
        conditions = [
            *conditions,
            {"$or": [{field: {beyond: value}}, {field: value, "_id": {beyond: ObjectId(user_id)}}]},
        ]
    projection = None
    if fields is not None:
        projection = {name: 1 for name in fields if name != "id"} | {field: 1}
    users = await store.users()
    # The limit goes to find(), so the server applies it (mongomock-motor's to_list ignores
    # its length argument). One user more than a page tells whether another page follows.
    cursor = users.find(
        _all_of(conditions),
        projection,
        sort=[(field, direction), ("_id", direction)],
        skip=skip,
        limit=limit + 1,
    )
    documents = await cursor.to_list(length=None)
    page, following = documents[:limit], documents[limit:]
    # Where the next page starts, read before the page's documents become users.
    after_page = (_position(page[-1][field]), str(page[-1]["_id"])) if following else None
    items = [_to_user(document) for document in page]
    if fields is not None:
        items = [{k: v for k, v in item.items() if k == "id" or k in fields} for item in items]
    total = None
    if count:
        # A last page reached by skipping, not by cursor, already tells the total.
        known = after is None and not following and (page or skip == 0)
        total = skip + len(page) if known else await users.count_documents(query)
    return {
        "items": items,
        "total": total,
        "next": after_page,
    }


@storage_operation
async def replace_user(
    store: Store, *, user_id: str, data: Mapping[str, Any], versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Replace every writable field and return the user, or None when there is no such user.

    Fields absent from `data` are removed. With `versions`, the write happens only when the
    stored version is one of them; otherwise VersionMismatch. Raises EmailTaken when the new
    email belongs to another user.
    """
    return await _replace(store, user_id=user_id, data=data, versions=versions, operation="replace")


async def _replace(
    store: Store,
    *,
    user_id: str,
    data: Mapping[str, Any],
    versions: list[int] | None,
    operation: str,
) -> dict[str, Any] | None:
    absent = {field: "" for field in USER_FIELDS if field not in data}
    update: dict[str, Any] = {
        "$set": {
            **data,
            "email_key": _email_key(data["email"]),
            "updated_at": now(),
            **history.stamp(operation),
        },
        "$inc": {"version": 1},
    }
    if absent:
        update["$unset"] = absent
    return await _update(store, user_id=user_id, update=update, versions=versions)


@storage_operation
async def update_user(
    store: Store, *, user_id: str, changes: Mapping[str, Any], versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Apply the given field changes and return the user, or None when there is no such user.

    Nested objects merge; a None value removes the field. An empty change set writes
    nothing. `versions` and errors are as for replace_user.
    """
    if not changes:
        users = await store.users()
        document = await users.find_one(_selector(user_id, versions))
        if document is None:
            await _refused(store, user_id, versions)
            return None
        return _to_user(document)
    fields = _flatten(changes)
    if "email" in fields:
        fields["email_key"] = _email_key(fields["email"])
    removed = {name: "" for name, value in fields.items() if value is None}
    update: dict[str, Any] = {
        "$set": {name: value for name, value in fields.items() if value is not None},
        "$inc": {"version": 1},
    }
    update["$set"].update({"updated_at": now(), **history.stamp("update")})
    if removed:
        update["$unset"] = removed
    return await _update(store, user_id=user_id, update=update, versions=versions)


async def _write(
    store: Store, selector: Mapping[str, Any], update: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply the update to the user the selector matches, record the version it produced
    (api/history.py) and return the stored document; None when nothing matched."""
    users = await store.users()
    # The state replaced, so that its version can be recorded if its own write did not.
    # None when nothing matched (Motor's annotations leave the None out).
    before: dict[str, Any] | None = await users.find_one_and_update(
        selector, update, return_document=ReturnDocument.BEFORE
    )
    if before is None:
        return None
    after = history.apply_update(before, update)
    await history.record(store, before=before, after=after)
    return after


async def _update(
    store: Store, *, user_id: str, update: Mapping[str, Any], versions: list[int] | None
) -> dict[str, Any] | None:
    try:
        document = await _write(store, _selector(user_id, versions), update)
    except DuplicateKeyError:
        raise EmailTaken(update["$set"]["email"]) from None
    if document is None:
        await _refused(store, user_id, versions)
        return None
    return _to_user(document)


@storage_operation
async def delete_user(store: Store, *, user_id: str, versions: list[int] | None = None) -> bool:
    """Move the user to the trash; return False when there was none. VersionMismatch as for
    replace_user.

    From the trash, restore_user brings it back until TRASH_TTL_SECONDS have passed; MongoDB's
    TTL index then deletes it (within about a minute), with its versions.
    """
    moment = now()
    update = {
        "$set": {"deleted_at": moment, "updated_at": moment, **history.stamp("delete")},
        "$rename": {"email_key": "deleted_email_key"},  # frees the email (api/db.py)
        "$inc": {"version": 1},
    }
    if await _write(store, _selector(user_id, versions), update) is None:
        await _refused(store, user_id, versions)
        return False
    return True


def _trash_cutoff(store: Store) -> datetime:
    """Users deleted before this are gone, even while MongoDB's TTL monitor has not run yet."""
    return now() - timedelta(seconds=store.trash_ttl_seconds)


@storage_operation
async def restore_user(
    store: Store, *, user_id: str, versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Bring the user back from the trash as a new version and return it; None when the trash
    does not hold it (never deleted, restored already, or deleted more than TRASH_TTL_SECONDS
    ago). Raises EmailTaken when its email now belongs to another user, VersionMismatch as for
    replace_user.
    """
    moment = now()
    update = {
        "$unset": {"deleted_at": ""},
        "$rename": {"deleted_email_key": "email_key"},
        "$set": {"updated_at": moment, **history.stamp("restore")},
        "$inc": {"version": 1},
    }
    trashed = {"deleted_at": {"$gt": _trash_cutoff(store)}}
    try:
        document = await _write(store, _selector(user_id, versions, trashed), update)
    except DuplicateKeyError:
        raise EmailTaken(user_id) from None
    if document is None:
        await _refused(store, user_id, versions, trashed)
        return None
    return _to_user(document)


@storage_operation
async def restore_version(
    store: Store, *, user_id: str, version: int, versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Write the fields the user had at `version` as a new version and return the user; None
    when there is no such user or version. Raises EmailTaken when that email now belongs to
    another user, VersionMismatch as for replace_user.
    """
    found = await history.get_version(store, user_id=user_id, version=version)
    if found is None:
        return None
    data = {field: found["user"][field] for field in USER_FIELDS if field in found["user"]}
    return await _replace(
        store, user_id=user_id, data=data, versions=versions, operation="restore_version"
    )


async def _explain_refusal(
    store: Store,
    user_id: str,
    versions: list[int] | None,
    state: Mapping[str, Any] = LIVE_USER,
) -> dict[str, Any] | None:
    """The user as it stands after a conditional write matched nothing, or None if gone.

    Raises VersionMismatch when the user exists at a version not in `versions`. (A read after a
    refused write only explains the refusal; it never decides whether to write.)
    """
    users = await store.users()
    document = await users.find_one(_selector(user_id, None, state))
    if document is None:
        return None
    if versions is not None and document["version"] not in versions:
        raise VersionMismatch(user_id)
    return _to_user(document)


async def _refused(
    store: Store, user_id: str, versions: list[int] | None, state: Mapping[str, Any] = LIVE_USER
) -> None:
    """After a write of the whole user matched nothing: None if it is gone, else 412."""
    if await _explain_refusal(store, user_id, versions, state) is not None:
        raise VersionMismatch(user_id)  # it changed between the refused write and the read
    return None


@storage_operation
async def add_skill(
    store: Store, *, user_id: str, skill: str, max_skills: int, versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Add the skill unless the user has it; return the user, or None when there is none.

    Idempotent: a skill already there changes nothing, not even the version. Raises
    TooManySkills when the user already has `max_skills`, VersionMismatch as for replace_user.
    """
    selector = _selector(user_id, versions)
    # Atomic: the write happens only while the skill is absent and there is room for it.
    selector["skills"] = {"$ne": skill}
    selector[f"skills.{max_skills - 1}"] = {"$exists": False}
    document = await _write(store, selector, _skills_change("$push", skill))
    if document is not None:
        return _to_user(document)
    user = await _explain_refusal(store, user_id, versions)
    if user is not None and skill not in user.get("skills", []):
        raise TooManySkills(user_id)
    return user


@storage_operation
async def remove_skill(
    store: Store, *, user_id: str, skill: str, versions: list[int] | None = None
) -> dict[str, Any] | None:
    """Remove the skill if the user has it; return the user, or None when there is none.

    Idempotent: an absent skill changes nothing. VersionMismatch as for replace_user.
    """
    selector = _selector(user_id, versions)
    selector["skills"] = skill
    document = await _write(store, selector, _skills_change("$pull", skill))
    if document is not None:
        return _to_user(document)
    return await _explain_refusal(store, user_id, versions)


def _skills_change(operator: str, skill: str) -> dict[str, Any]:
    """The update adding ($push) or removing ($pull) a skill: a write like any other."""
    operation = "add_skill" if operator == "$push" else "remove_skill"
    return {
        operator: {"skills": skill},
        "$set": {"updated_at": now(), **history.stamp(operation)},
        "$inc": {"version": 1},
    }
