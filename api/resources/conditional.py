"""Conditional requests (RFC 9110 section 13) on a user: its ETag, If-Match, If-None-Match.

The ETag is the user's `version` (api/crud.py), which every write increments. If-Match on a
write becomes a filter of the write itself (`versions`), so a stale write is refused atomically.
"""

import re
from typing import Any

import flask

from api import problems

# The tags this API issues: a version, in ASCII digits without leading zeros, below 10**18 (an
# int64). A strong comparison is of the exact characters, so "01" is not "1", nor is "\u0661"
# (ARABIC-INDIC DIGIT ONE, which int() reads as 1); and a longer run of digits is no version of
# ours (int() refuses more than 4300 digits, BSON more than 64 bits: both would be a 500).
VERSION_TAG = re.compile("[1-9][0-9]{0,17}")


def etag(user: dict[str, Any]) -> str:
    """The user's ETag: its version, quoted."""
    return f'"{user["version"]}"'


def expected_versions() -> list[int] | None:
    """The versions If-Match accepts; None without If-Match (or with `*`: any version).

    With REQUIRE_IF_MATCH, a write without If-Match is refused with 428.
    """
    if_match = flask.request.if_match
    if not flask.request.headers.get("If-Match"):
        if flask.current_app.config["REQUIRE_IF_MATCH"]:
            raise problems.PRECONDITION_REQUIRED.error()
        return None
    if if_match.star_tag:
        return None
    # If-Match compares strongly: weak tags never match, and tags we did not issue match nothing.
    # werkzeug parses an empty tag ("") as None.
    return [int(tag) for tag in if_match.as_set() if tag and VERSION_TAG.fullmatch(tag)]


def found(user: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    """The user; 404 when there is none (412 when If-Match: * asked for one)."""
    if user is None:
        if flask.request.if_match.star_tag:
            raise problems.NO_USER_TO_MATCH.error()
        raise problems.USER_NOT_FOUND.error(user_id=user_id)
    return user


def tagged(user: dict[str, Any] | None, user_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A view's answer with the user: the user and its ETag header (404 as `found`)."""
    user = found(user, user_id)
    return user, {"ETag": etag(user)}


def unless_not_modified(user: dict[str, Any] | None, user_id: str) -> Any:
    """A read's answer: the user and its ETag, or 304 when If-None-Match holds that ETag."""
    user, headers = tagged(user, user_id)
    request = flask.request
    # Most reads send no If-None-Match: then werkzeug need not parse one.
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(
        headers["ETag"].strip('"')
    ):
        return flask.Response(status=304, headers=headers)
    return user, headers
