"""The course service's routes (`/add`, `/users`, `/user/<id>`), kept for its old clients.
Deprecated: use /api/v1/users.

Deprecated aliases of the v1 operations: every answer carries `Deprecation` (RFC 9745),
`Sunset` (RFC 8594) and a `Link` to the successor operation.
"""

from typing import Any

import flask
from flask.views import MethodView

from api import crud
from api.db import current_store
from api.resources import users
from api.resources.openapi import (
    CREATED_HEADERS,
    ETAG_HEADER,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    USER_ID,
    string,
)
from api.schemas import LegacyListQuerySchema, UserInputSchema, UserSchema
from api.spec import Blueprint

blp = Blueprint("legacy", __name__)

DEPRECATED_SINCE = "@1795219200"  # 2026-11-21T00:00:00Z
SUNSET = "Fri, 21 May 2027 00:00:00 GMT"
# On every answer of these routes (deprecation_headers).
DEPRECATION_HEADERS = {
    "Deprecation": {
        "description": "When these routes were deprecated (RFC 9745): 2026-11-21.",
        "schema": string(DEPRECATED_SINCE),
    },
    "Sunset": {"description": "When they stop working (RFC 8594).", "schema": string(SUNSET)},
    "Link": {
        "description": 'The operation replacing this one, as rel="successor-version".',
        "schema": string('</api/v1/users>; rel="successor-version"'),
    },
}
ADD_EXAMPLE = {"name": "Asha", "email": "asha@example.com", "role": "Backend Engineer"}


@blp.after_request
def deprecation_headers(response: flask.Response) -> flask.Response:
    successor = flask.url_for("users.Users")
    if flask.request.view_args and "user_id" in flask.request.view_args:
        successor = users.user_url(flask.request.view_args["user_id"])
    response.headers["Deprecation"] = DEPRECATED_SINCE
    response.headers["Sunset"] = SUNSET
    response.headers.add("Link", f'<{successor}>; rel="successor-version"')
    return response


@blp.route("/add")
class LegacyAdd(MethodView):
    @blp.doc(operationId="legacyAddUser", deprecated=True)
    @blp.arguments(
        UserInputSchema,
        description="The new user: `name` and `email` are required.",
        example=ADD_EXAMPLE,
    )
    @blp.response(201, UserSchema, headers={**CREATED_HEADERS, **DEPRECATION_HEADERS})
    @blp.errors(400, 409, 413, 415, 503)
    async def post(self, data: dict[str, Any]) -> Any:
        """Create a user (deprecated: use createUser)

        Answers exactly as `POST /api/v1/users`.
        """
        return await users.create(data)


@blp.route("/users")
class LegacyUsers(MethodView):
    @blp.doc(operationId="legacyListUsers", deprecated=True)
    @blp.arguments(LegacyListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, UserSchema(many=True), headers=DEPRECATION_HEADERS)
    @blp.errors(503)
    async def get(self, page: int, page_size: int | None = None) -> Any:
        """List users as a bare array (deprecated: use listUsers)

        The first MAX_PAGE_SIZE users in creation order, as the course service answered (a
        JSON array); `page` and `page_size` page through the rest.
        """
        limit = flask.current_app.config["MAX_PAGE_SIZE"]
        size = min(page_size or limit, limit)
        result = await crud.list_users(
            current_store(), skip=(page - 1) * size, limit=size, count=False
        )
        return result["items"]


@blp.route("/user/<objectid:user_id>", parameters=[USER_ID])
class LegacyUser(MethodView):
    @blp.doc(operationId="legacyGetUser", deprecated=True, parameters=[IF_NONE_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER, **DEPRECATION_HEADERS})
    @blp.alt_response(
        304, description=NOT_MODIFIED, headers={"ETag": ETAG_HEADER, **DEPRECATION_HEADERS}
    )
    @blp.errors(404, 503)
    async def get(self, user_id: str) -> Any:
        """Get a user (deprecated: use getUser)

        Answers exactly as `GET /api/v1/users/{user_id}`.
        """
        return await users.fetch(user_id)
