"""Idempotency-Key on creates: a retried request is answered, not executed, a second time.

The first request with a key claims it (an insert under the key as `_id`, so two concurrent
retries cannot both claim it), runs, and stores its outcome. A retry with the same key and the
same request gets that outcome again, with `Idempotent-Replayed: true`. The same key with a
different request is refused (422 idempotency_key_reused); while the first is still running,
retries get 409 idempotency_key_in_use. A failure worth retrying (5xx, 503 included) releases
the key. Records expire after IDEMPOTENCY_TTL_SECONDS.

The records are kept in the store's `idempotency_keys` collection, under a TTL index (api/db.py):
`claim`, `complete` and `release` are their storage operations.
"""

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import flask
from pymongo.errors import DuplicateKeyError

from api import db, problems
from api.db import Store, current_store, storage_operation

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")

PARAMETER = {
    "in": "header",
    "name": HEADER,
    "description": "Unique key (1 to 255 printable ASCII characters, e.g. a UUID) making "
    "retries of this request safe: a retry with the same key and body is answered with the "
    "first outcome and creates nothing.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[!-~]+$",
        "example": "4f1c9a0e-6b7d-4c2a-9e8f-0a1b2c3d4e5f",
    },
}
REPLAYED = {
    "description": "`true` when this is the stored outcome of an earlier request with the "
    "same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"], "example": "true"},
}


class KeyReused(Exception):
    """The Idempotency-Key was used before for a different request."""


class KeyInUse(Exception):
    """The first request with this Idempotency-Key is still being processed."""


@storage_operation
async def claim(
    store: Store, *, key: str, fingerprint: str, ttl_seconds: int
) -> dict[str, Any] | None:
    """Claim the key for a request; None when claimed, else the stored outcome to replay.

    Raises KeyReused when the key came with another request (another `fingerprint`) and
    KeyInUse while the first request with it is still being processed. A record older than
    `ttl_seconds` counts as gone, as MongoDB's TTL index may delete it up to a minute late.
    """
    keys = await store.idempotency_keys()
    now = db.now()
    record = {"_id": key, "fingerprint": fingerprint, "created_at": now, "response": None}
    for _ in range(2):
        try:
            await keys.insert_one(record)
            return None
        except DuplicateKeyError:
            existing = await keys.find_one({"_id": key})
        if existing is None:
            continue  # expired in between
        if (now - db.as_utc(existing["created_at"])).total_seconds() > ttl_seconds:
            await keys.delete_one({"_id": key, "created_at": existing["created_at"]})
            continue
        if existing["fingerprint"] != fingerprint:
            raise KeyReused(key)
        if existing["response"] is None:
            raise KeyInUse(key)
        outcome: dict[str, Any] = existing["response"]
        return outcome
    raise KeyInUse(key)


@storage_operation
async def complete(store: Store, *, key: str, response: Mapping[str, Any]) -> None:
    """Record the outcome of the request that claimed the key, for its retries."""
    keys = await store.idempotency_keys()
    await keys.update_one({"_id": key}, {"$set": {"response": dict(response)}})


@storage_operation
async def release(store: Store, *, key: str) -> None:
    """Forget a claimed key whose request failed without an outcome worth replaying."""
    keys = await store.idempotency_keys()
    await keys.delete_one({"_id": key, "response": None})


def _fingerprint() -> str:
    """What identifies the request a key belongs to: its method, path and JSON body."""
    raw = flask.request.get_data()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or too deep for json: the view refuses it
        body = raw
    request = f"{flask.request.method} {flask.request.path}\n".encode()
    return hashlib.sha256(request + body).hexdigest()


def _replay(outcome: dict[str, Any]) -> flask.Response:
    response = flask.Response(outcome["body"], status=outcome["status"])
    response.headers.update(outcome["headers"])
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a create view honour the Idempotency-Key header (see the module docstring)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = flask.request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY.fullmatch(key):
            raise problems.INVALID_IDEMPOTENCY_KEY.error(header=HEADER)
        app = flask.current_app
        store = current_store()
        outcome = app.ensure_sync(claim)(
            store,
            key=key,
            fingerprint=_fingerprint(),
            ttl_seconds=app.config["IDEMPOTENCY_TTL_SECONDS"],
        )
        if outcome is not None:
            return _replay(outcome)
        try:
            response = app.make_response(view(*args, **kwargs))
        except Exception as error:  # the outcome of a refused request is replayed too
            try:
                response = app.make_response(app.handle_user_exception(error))
            except Exception:
                app.ensure_sync(release)(store, key=key)
                raise
        if response.status_code >= 500:
            app.ensure_sync(release)(store, key=key)
            return response
        outcome = {
            "status": response.status_code,
            "body": response.get_data(as_text=True),
            "headers": {
                name: response.headers[name]
                for name in REPLAYED_HEADERS
                if name in response.headers
            },
        }
        app.ensure_sync(complete)(store, key=key, response=outcome)
        return response

    return wrapper
