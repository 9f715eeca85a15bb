"""/api/v1/users: the users directory over HTTP."""

from typing import Any
from urllib.parse import urlencode

import flask
from flask.views import MethodView

from api import crud
from api.errors import ApiError
from api.resources import Blueprint, current_store
from api.schemas import UserListQuerySchema, UserPageSchema, UserSchema

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="The users directory.")


def string(example: str) -> dict[str, Any]:
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


def header_parameter(name: str, description: str) -> dict[str, Any]:
    return {"in": "header", "name": name, "description": description, "schema": string('"1"')}


IF_MATCH = header_parameter(
    "If-Match", "Write only if the user's current ETag is one of these; else 412."
)
IF_NONE_MATCH = header_parameter(
    "If-None-Match", "Answer 304 with no body when the user's current ETag is one of these."
)
USER_ID = {
    "in": "path",
    "name": "user_id",
    "description": "The user's id: a MongoDB ObjectId, 24 hex characters.",
}

BODY_METHODS = ("POST", "PUT", "PATCH")


@blp.before_request
def require_json_body() -> None:
    if flask.request.method in BODY_METHODS and not flask.request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the request body as JSON, with Content-Type: application/json.",
        )


def etag(user: dict[str, Any]) -> str:
    return f'"{user["version"]}"'


def expected_versions() -> list[int] | None:
    """The versions If-Match accepts; None without If-Match (or with `*`: any version)."""
    if_match = flask.request.if_match
    if not flask.request.headers.get("If-Match") or if_match.star_tag:
        return None
    # If-Match compares strongly: weak tags never match. Tags we did not issue match nothing.
    # werkzeug parses an empty tag ("") as None.
    return [int(tag) for tag in if_match.as_set() if tag and tag.isdigit()]


def found(user: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    if user is None:
        if flask.request.if_match.star_tag:
            raise ApiError(412, "precondition_failed", "If-Match: * and there is no such user.")
        raise ApiError(404, "not_found", f"No user with id {user_id}.")
    return user


def user_url(user_id: str) -> str:
    return flask.url_for("users.UserById", user_id=user_id)


def page_links(page: int, page_size: int, total: int) -> str:
    """RFC 8288 Link header value for the pages around `page`, keeping the other query args."""
    last = max(1, -(-total // page_size))
    pages = {"first": 1, "last": last}
    if page > 1:
        pages["prev"] = min(page - 1, last)
    if page < last:
        pages["next"] = page + 1
    args = flask.request.args.to_dict()
    links = []
    for rel, number in pages.items():
        query = urlencode({**args, "page": number, "page_size": page_size})
        links.append(f'<{flask.request.path}?{query}>; rel="{rel}"')
    return ", ".join(links)


@blp.route("")
class Users(MethodView):
    @blp.doc(operationId="listUsers")
    @blp.arguments(UserListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, UserPageSchema, headers={"Link": LINK_HEADER})
    @blp.errors(503)
    async def get(self, page: int, page_size: int, sort: str, **filters: Any) -> Any:
        """List users

        One page of users matching every filter given, in `sort` order, with the total count
        and RFC 8288 `Link` headers to the neighbouring pages.
        """
        page_size = min(page_size, flask.current_app.config["MAX_PAGE_SIZE"])
        items, total = await crud.list_users(
            current_store(), sort=sort, skip=(page - 1) * page_size, limit=page_size, **filters
        )
        body = {"items": items, "page": page, "page_size": page_size, "total": total}
        return body, {"Link": page_links(page, page_size, total)}

    @blp.doc(operationId="createUser")
    @blp.arguments(UserSchema, description="The new user: `name` and `email` are required.")
    @blp.response(201, UserSchema, headers={"Location": LOCATION_HEADER, "ETag": ETAG_HEADER})
    @blp.errors(400, 409, 413, 415, 503)
    async def post(self, data: dict[str, Any]) -> Any:
        """Create a user

        `email` must not belong to another user (compared case-insensitively): 409 otherwise.
        """
        user = await crud.create_user(current_store(), data=data)
        return user, {"Location": user_url(user["id"]), "ETag": etag(user)}


@blp.route("/<objectid:user_id>", parameters=[USER_ID])
class UserById(MethodView):
    @blp.doc(operationId="getUser", parameters=[IF_NONE_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description="Not Modified: the ETag in If-None-Match is current.")
    @blp.errors(404, 503)
    async def get(self, user_id: str) -> Any:
        """Get a user

        With If-None-Match holding the current ETag, answers 304 with no body.
        """
        user = found(await crud.get_user(current_store(), user_id=user_id), user_id)
        tag = etag(user)
        if flask.request.if_none_match.contains_weak(tag.strip('"')):
            return flask.Response(status=304, headers={"ETag": tag})
        return user, {"ETag": tag}

    @blp.doc(operationId="replaceUser", parameters=[IF_MATCH])
    @blp.arguments(UserSchema, description="Every writable field of the user.")
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(400, 404, 409, 412, 413, 415, 503)
    async def put(self, data: dict[str, Any], user_id: str) -> Any:
        """Replace a user

        Every writable field is replaced; optional fields left out are removed or reset to
        their defaults.
        """
        user = await crud.replace_user(
            current_store(), user_id=user_id, data=data, versions=expected_versions()
        )
        user = found(user, user_id)
        return user, {"ETag": etag(user)}

    @blp.doc(operationId="updateUser", parameters=[IF_MATCH])
    @blp.arguments(UserSchema(partial=True), description="Only the fields to change.")
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(400, 404, 409, 412, 413, 415, 503)
    async def patch(self, changes: dict[str, Any], user_id: str) -> Any:
        """Update some fields of a user

        Only the fields sent change; `experience` is merged field by field.
        """
        user = await crud.update_user(
            current_store(), user_id=user_id, changes=changes, versions=expected_versions()
        )
        user = found(user, user_id)
        return user, {"ETag": etag(user)}

    @blp.doc(operationId="deleteUser", parameters=[IF_MATCH])
    @blp.response(204)
    @blp.errors(404, 412, 503)
    async def delete(self, user_id: str) -> None:
        """Delete a user

        Answers 204 with no body. With If-Match, deletes only while the ETag is current.
        """
        deleted = await crud.delete_user(
            current_store(), user_id=user_id, versions=expected_versions()
        )
        if not deleted:
            found(None, user_id)
