"""Pages of a list: by number (`page`) or by cursor, and their RFC 8288 Link headers.

A page by number skips the users before it; a page by cursor starts just after the (sort value,
id) position its cursor holds (api/cursors.py), so users added meanwhile neither repeat nor
skip one. Every page links to the first and, when there is one, the next; a page by number also
to the previous and, with its total, the last.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import flask

from api import cursors, problems
from api.schemas import SORT_KEYS

OBJECT_ID = re.compile("[0-9a-f]{24}")
DEFAULT_SORT = "created_at"


@dataclass(frozen=True)
class Asked:
    """The page a list request asks for."""

    sort: str
    size: int
    number: int  # by number; 1 for a page by cursor, which has none
    after: tuple[Any, str] | None  # by cursor: the position it starts after

    @property
    def skip(self) -> int:
        return 0 if self.after is not None else (self.number - 1) * self.size


def asked_for(*, page: int | None, cursor: str | None, sort: str | None, size: int) -> Asked:
    """The page of these query arguments, its size capped at MAX_PAGE_SIZE; 400 when they
    contradict each other or the cursor is not ours."""
    if page is not None and cursor is not None:
        raise problems.PAGE_AND_CURSOR.error()
    size = min(size, flask.current_app.config["MAX_PAGE_SIZE"])
    if cursor is None:
        return Asked(sort or DEFAULT_SORT, size, page or 1, None)
    cursor_sort, after = cursor_position(cursor, sort)
    return Asked(cursor_sort, size, 1, after)


def cursor_position(cursor: str, sort: str | None) -> tuple[str, tuple[Any, str]]:
    """The sort order and (value, id) position a cursor stands for; 400 when it is not ours."""
    try:
        cursor_sort, value, user_id = cursors.decode(cursor)
    except ValueError:
        raise problems.INVALID_CURSOR.error() from None
    valid = (
        cursor_sort in SORT_KEYS
        and OBJECT_ID.fullmatch(user_id) is not None
        and isinstance(value, datetime) == (cursor_sort.lstrip("-") == "created_at")
    )
    if not valid:
        raise problems.INVALID_CURSOR.error()
    if sort is not None and sort != cursor_sort:
        raise problems.CURSOR_WITH_SORT.error()
    return cursor_sort, (value, user_id)


def answer(
    asked: Asked, result: dict[str, Any], *, include_total: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """listUsers' answer: the page envelope of crud.list_users' result, and its Link header."""
    following = result["next"]
    next_cursor = cursors.encode(asked.sort, *following) if following else None
    body: dict[str, Any] = {"items": result["items"], "page_size": asked.size}
    if include_total:
        body["total"] = result["total"]
    body["next_cursor"] = next_cursor
    if asked.after is None:
        body["page"] = asked.number
        link = page_links(asked.number, asked.size, result["total"], next_cursor is not None)
    else:
        pairs: dict[str, dict[str, Any]] = {"first": {"page_size": asked.size}}
        if next_cursor:
            pairs["next"] = {"cursor": next_cursor, "page_size": asked.size}
        link = links(pairs)
    return body, {"Link": link}


def links(pairs: dict[str, dict[str, Any]]) -> str:
    """RFC 8288 Link header value: rel -> query arguments replacing those of this request.

    Every value of a repeated argument is kept (`skill=A&skill=B`), so following a link keeps
    the filters of the page it came from. The path is the request's as the client sent it,
    behind ROOT_PATH too.
    """
    request = flask.request
    args = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name not in {"page", "cursor"}
    ]
    path = request.script_root + request.path
    kept_by_changed: dict[frozenset[str], str] = {}  # the links of a page change the same names

    def url(changes: dict[str, Any]) -> str:
        changed = frozenset(changes)
        if changed not in kept_by_changed:
            kept_by_changed[changed] = urlencode([(n, v) for n, v in args if n not in changed])
        kept, given = kept_by_changed[changed], urlencode(list(changes.items()))
        return f"{path}?{kept}&{given}" if kept else f"{path}?{given}"

    return ", ".join(f'<{url(changes)}>; rel="{rel}"' for rel, changes in pairs.items())


def page_links(page: int, page_size: int, total: int | None, more: bool) -> str:
    """The Link header of a page by number: first, prev, next (when `more`) and last."""
    pages = {"first": 1}
    last = None if total is None else max(1, -(-total // page_size))
    if page > 1:
        pages["prev"] = page - 1 if last is None else min(page - 1, last)
    if more:
        pages["next"] = page + 1
    if last is not None:
        pages["last"] = last
    return links({rel: {"page": number, "page_size": page_size} for rel, number in pages.items()})
