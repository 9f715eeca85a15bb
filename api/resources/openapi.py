"""What the users routes document besides their schemas: parameters and response headers.

Literals of the OpenAPI document only; the code that reads or sends these headers is in
api/resources/conditional.py, api/resources/paging.py and api/idempotency.py.
"""

from typing import Any


def string(example: str) -> dict[str, Any]:
    """The schema of a string parameter or header, with an example."""
    return {"type": "string", "example": example}


ETAG_HEADER = {
    "description": "Version of the user; send it back in If-Match.",
    "schema": string('"1"'),
}
LOCATION_HEADER = {
    "description": "URL of the new user.",
    "schema": string("/api/v1/users/6566f0c4e1b2c3d4e5f60718"),
}
LINK_HEADER = {
    "description": "RFC 8288 links to the first, previous, next and last pages.",
    "schema": string(
        '</api/v1/users?page=1&page_size=20>; rel="first", '
        '</api/v1/users?page=2&page_size=20>; rel="next", '
        '</api/v1/users?page=3&page_size=20>; rel="last"'
    ),
}
CREATED_HEADERS = {"Location": LOCATION_HEADER, "ETag": ETAG_HEADER}
NOT_MODIFIED = "Not Modified: the ETag in If-None-Match is current."


def _etag_parameter(name: str, description: str) -> dict[str, Any]:
    return {"in": "header", "name": name, "description": description, "schema": string('"1"')}


IF_MATCH = _etag_parameter(
    "If-Match", "Write only if the user's current ETag is one of these; else 412."
)
IF_NONE_MATCH = _etag_parameter(
    "If-None-Match", "Answer 304 with no body when the user's current ETag is one of these."
)
USER_ID = {
    "in": "path",
    "name": "user_id",
    "description": "The user's id: a MongoDB ObjectId, 24 hex characters.",
}
SKILL = {
    "in": "path",
    "name": "skill",
    "description": "One skill, 1 to 100 characters, percent-encoded (`C%2B%2B` for C++).",
}
