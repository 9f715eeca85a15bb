"""Idempotency-Key on creates: a retried request is answered, not executed, a second time.

The first request with a key claims it (an insert under the key as `_id`, so two concurrent
retries cannot both claim it), runs, and stores its outcome. A retry with the same key and the
same request gets that outcome again, with `Idempotent-Replayed: true`. The same key with a
different request is refused (422 idempotency_key_reused); while the first is still running,
retries get 409 idempotency_key_in_use. A failure worth retrying (5xx, 503 included) releases
the key. Records expire after IDEMPOTENCY_TTL_SECONDS.
"""

import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import flask

from api import crud
from api.errors import ApiError
from api.resources import current_store

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
            raise ApiError(
                400,
                "invalid_idempotency_key",
                f"{HEADER} must be 1 to 255 printable ASCII characters without spaces.",
            )
        app = flask.current_app
        store = current_store()
        outcome = app.ensure_sync(crud.claim_idempotency_key)(
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
                app.ensure_sync(crud.release_idempotency_key)(store, key=key)
                raise
        if response.status_code >= 500:
            app.ensure_sync(crud.release_idempotency_key)(store, key=key)
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
        app.ensure_sync(crud.complete_idempotency_key)(store, key=key, response=outcome)
        return response

    return wrapper
