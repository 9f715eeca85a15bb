"""A user's versions, restoring one, and the trash: /api/v1/users/{user_id}/versions, .../restore.

Every write records the state it produced as a version (api/history.py); these operations read
them and write one again. The trash itself is listed by listUsers with `deleted=true`.
"""

from typing import Any

import flask
from flask.views import MethodView
from werkzeug.routing import BaseConverter

from api import crud, history, problems
from api.db import current_store
from api.history_schemas import PageQuerySchema, UserVersionPageSchema, UserVersionSchema
from api.problems import ApiError
from api.resources.conditional import etag, expected_versions, found
from api.resources.openapi import ETAG_HEADER, IF_MATCH, LINK_HEADER, USER_ID
from api.resources.paging import page_links
from api.schemas import UserSchema
from api.spec import Blueprint

blp = Blueprint("versions", __name__, url_prefix="/api/v1/users")

VERSION = {
    "in": "path",
    "name": "version",
    "description": "A version number, as the user's ETag gives it (without the quotes).",
}


class VersionConverter(BaseConverter):
    """A version number in a path: what ETags hold (ASCII digits, no leading zero, below
    10**18, an int64); anything else does not match the route, so it is a 404."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(value)


def version_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": 10**18 - 1, "example": 1}


def no_version(user_id: str, version: int) -> ApiError:
    return ApiError(404, "not_found", f"No version {version} of a user with id {user_id}.")


@blp.route("/<objectid:user_id>/versions", parameters=[USER_ID])
class UserVersions(MethodView):
    @blp.doc(operationId="listUserVersions")
    @blp.arguments(PageQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, UserVersionPageSchema, headers={"Link": LINK_HEADER})
    @blp.errors(404, 503)
    async def get(self, user_id: str, page: int, page_size: int) -> Any:
        """List a user's versions

        Newest first: the state each write left, when and by which API key. At most
        HISTORY_MAX_VERSIONS are kept; the current one is always listed. A user in the trash
        has no versions to read (404) until it is restored.
        """
        page_size = min(page_size, flask.current_app.config["MAX_PAGE_SIZE"])
        result = await history.list_versions(
            current_store(), user_id=user_id, skip=(page - 1) * page_size, limit=page_size
        )
        if result is None:
            raise ApiError(404, "not_found", f"No user with id {user_id}.")
        total = result["total"]
        more = page * page_size < total
        body = {"items": result["items"], "page": page, "page_size": page_size, "total": total}
        return body, {"Link": page_links(page, page_size, total, more)}


@blp.route("/<objectid:user_id>/versions/<version:version>", parameters=[USER_ID, VERSION])
class UserVersion(MethodView):
    @blp.doc(operationId="getUserVersion")
    @blp.response(200, UserVersionSchema)
    @blp.errors(404, 503)
    async def get(self, user_id: str, version: int) -> Any:
        """Get one version of a user

        404 when the user is not there or that version is no longer kept.
        """
        user_version = await history.get_version(current_store(), user_id=user_id, version=version)
        if user_version is None:
            raise no_version(user_id, version)
        return user_version


@blp.route("/<objectid:user_id>/versions/<version:version>/restore", parameters=[USER_ID, VERSION])
class UserVersionRestore(MethodView):
    @blp.doc(operationId="restoreUserVersion", parameters=[IF_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(404, 409, 412, 428, 503)
    async def post(self, user_id: str, version: int) -> Any:
        """Restore a version of a user

        Writes the fields the user had at that version as a new version (the history keeps
        what it replaces). With If-Match, only while the ETag is current (412 otherwise).
        409 `email_taken` when that version's email now belongs to another user.
        """
        versions = expected_versions()
        user = await crud.restore_version(
            current_store(), user_id=user_id, version=version, versions=versions
        )
        if user is None:
            if flask.request.if_match.star_tag:
                found(None, user_id)
            raise no_version(user_id, version)
        return user, {"ETag": etag(user)}


@blp.route("/<objectid:user_id>/restore", parameters=[USER_ID])
class UserRestore(MethodView):
    @blp.doc(operationId="restoreUser")
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(404, 409, 503)
    async def post(self, user_id: str) -> Any:
        """Restore a deleted user from the trash

        Brings the user back as a new version, within TRASH_TTL_SECONDS of its delete; 404
        after that, or when there is no such user. 409 `email_taken` when another user took
        its email meanwhile, `not_deleted` when the user is not in the trash (a second
        restore). Takes no If-Match: being in the trash is the condition, checked by the
        write itself.
        """
        store = current_store()
        user = await crud.restore_user(store, user_id=user_id)
        if user is None:
            if await crud.get_user(store, user_id=user_id) is not None:
                raise problems.NOT_DELETED.error(user_id=user_id)
            raise ApiError(404, "not_found", f"The trash holds no user with id {user_id}.")
        return user, {"ETag": etag(user)}
