"""Opaque paging cursors: a position in a sort order, as URL-safe text.

A cursor holds the sort key, the last item's value of that key and its id. The next page starts
strictly after that (value, id) pair, so users added or removed meanwhile never make a page
repeat or skip one that existed when paging began. Cursors are not secret: decoding one that was
tampered with yields at worst another valid position, or ValueError.
"""

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any


def encode(sort: str, value: Any, user_id: str) -> str:
    """The cursor for the position just after (value, user_id) in `sort` order."""
    typed: dict[str, int | str]
    if isinstance(value, datetime):
        typed = {"ms": round(value.timestamp() * 1000)}
    else:
        typed = {"s": str(value)}
    payload = json.dumps({"sort": sort, **typed, "id": user_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def decode(cursor: str) -> tuple[str, Any, str]:
    """(sort, value, user_id) of a cursor made by `encode`; ValueError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        sort, user_id = payload["sort"], payload["id"]
        if "ms" in payload:
            value: Any = datetime.fromtimestamp(int(payload["ms"]) / 1000, tz=UTC)
        else:
            value = payload["s"]
    except (ValueError, KeyError, TypeError, OverflowError, OSError, binascii.Error) as error:
        raise ValueError("not a cursor from this API") from error
    if not all(isinstance(part, str) for part in (sort, user_id)):
        raise ValueError("not a cursor from this API")
    if not isinstance(value, str | datetime):
        raise ValueError("not a cursor from this API")
    return sort, value, user_id
