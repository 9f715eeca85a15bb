"""Limits on what a request may carry, checked before any schema sees it.

Request bodies are parsed as strict JSON (RFC 8259, plus I-JSON's rules from RFC 7493): UTF-8,
no duplicate keys (a parser that keeps the last one lets two components read two different
bodies), no NaN or Infinity, no lone surrogates (they cannot be stored as UTF-8). Structural
limits keep the cost of validating a body, and the size of the error listing its faults,
proportional to what a user document needs rather than to MAX_BODY_BYTES:

    400 malformed_json       not JSON, not UTF-8, a duplicate key, NaN/Infinity, a lone surrogate
    400 json_limit_exceeded  nesting deeper than MAX_DEPTH, an array longer than MAX_ITEMS, an
                             object with more than MAX_KEYS keys, a key longer than MAX_KEY_CHARS,
                             a string longer than MAX_STRING_CHARS
    414 uri_too_long         a query string longer than MAX_QUERY_BYTES

What text fields may contain (no control characters) is the schemas' business: api/schemas.py.
"""

import json
import re
from typing import TYPE_CHECKING, Any, NoReturn

import flask

from api import problems

if TYPE_CHECKING:  # api/spec.py parses bodies with load_json: imported for its type only
    from api.spec import Api

# A user document is 3 levels deep with arrays of at most 50 short strings: these are far above
# anything valid, and far below what would make validation or an error response expensive.
MAX_DEPTH = 16
MAX_ITEMS = 1000
MAX_KEYS = 100
MAX_KEY_CHARS = 100
MAX_STRING_CHARS = 10_000

SURROGATE = re.compile("[\ud800-\udfff]")


class _Malformed(Exception):
    """Raised inside the JSON parser's hooks, to leave it at once."""


def _malformed(reason: str) -> NoReturn:
    raise problems.MALFORMED_JSON.error(reason=reason)


def _too_large(reason: str) -> NoReturn:
    raise problems.JSON_LIMIT_EXCEEDED.error(reason=reason)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Malformed("an object has the same key twice")
    return document


def _constant(name: str) -> NoReturn:
    raise _Malformed(f"{name} is not a JSON number")


def load_json(data: bytes) -> Any:
    """Parse a request body; raise ApiError (400) for anything this API does not accept."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _malformed("it is not UTF-8")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except _Malformed as error:
        _malformed(str(error))
    except RecursionError:
        _too_large(f"nested deeper than {MAX_DEPTH} levels")
    except ValueError:  # JSONDecodeError, or an integer of more than 4300 digits
        _malformed("a syntax error")
    _check_structure(value)
    return value


def _check_string(text: str, limit: int, what: str) -> None:
    if len(text) > limit:
        _too_large(f"a {what} longer than {limit} characters")
    if SURROGATE.search(text):
        _malformed("a string holds a lone surrogate (not a Unicode character)")


def _check_structure(value: Any) -> None:
    # Iterative, so that checking cannot exhaust the stack whatever the body.
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            _check_string(node, MAX_STRING_CHARS, "string")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_DEPTH:
            _too_large(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, list):
            if len(node) > MAX_ITEMS:
                _too_large(f"an array of more than {MAX_ITEMS} items")
            pending.extend((item, depth + 1) for item in node)
            continue
        if len(node) > MAX_KEYS:
            _too_large(f"an object of more than {MAX_KEYS} keys")
        for key, item in node.items():
            _check_string(key, MAX_KEY_CHARS, "key")
            pending.append((item, depth + 1))


def init_app(api: "Api") -> None:
    """Document on every operation that a long query string is refused (the check is a step
    of api/pipeline.py)."""
    api.operation_docs.document_everywhere(414)


def limit_query_string() -> None:
    """Refuse (414) a query string longer than MAX_QUERY_BYTES, before any view reads it."""
    limit = flask.current_app.config["MAX_QUERY_BYTES"]
    if len(flask.request.query_string) > limit:
        raise problems.URI_TOO_LONG.error(limit=limit)
