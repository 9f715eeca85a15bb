"""The resources: one module of views per blueprint, and what their routes share.

    users.py        /api/v1/users: the views of the users directory
    versions.py     a user's versions, restoring one, and the trash
    insights.py     /api/v1/users/stats: counts over the users matching the list's filters
    legacy.py       the course service's deprecated routes, answering as the v1 views do
    openapi.py      path and header parameters and response headers the views document
    conditional.py  ETags, If-Match and If-None-Match (conditional requests, RFC 9110)
    paging.py       pages by number or by cursor, and their RFC 8288 Link headers

This module holds the path converters: an ObjectId and a skill in a path.
"""

from typing import Any

from werkzeug.routing import BaseConverter

from api.schemas import TEXT


class ObjectIdConverter(BaseConverter):
    """A MongoDB ObjectId in a path: anything else does not match the route, so it is a 404."""

    regex = "[0-9a-fA-F]{24}"

    def to_python(self, value: str) -> str:
        return value.lower()


class SkillConverter(BaseConverter):
    """A skill in a path: one segment of at most 100 characters (longer ones do not match)."""

    regex = "[^/]{1,100}"


def skill_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    # What an item of `skills` accepts, so the path and the body agree on what a skill is.
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "pattern": TEXT.regex.pattern,
        "example": "Docker",
    }


def objectid_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": "^[0-9a-fA-F]{24}$", "example": "6566f0c4e1b2c3d4e5f60718"}
