"""/api/v1/users: the users directory over HTTP."""

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import flask
import marshmallow as ma
from flask.views import MethodView

from api import crud, cursors, idempotency
from api.errors import ApiError, email_taken_body, flatten_messages, problem_body
from api.resources import Blueprint, current_store
from api.schemas import (
    MAX_SKILLS,
    SORT_KEYS,
    UserBatchResultSchema,
    UserBatchSchema,
    UserInputSchema,
    UserListQuerySchema,
    UserPageSchema,
    UserPatchSchema,
    UserSchema,
)

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
SKILL = {
    "in": "path",
    "name": "skill",
    "description": "One skill, 1 to 100 characters, percent-encoded (`C%2B%2B` for C++).",
}

MERGE_PATCH = "application/merge-patch+json"
SKILL_FIELD = UserInputSchema().fields["skills"].inner  # type: ignore[attr-defined]
WRITE_ERRORS = (400, 404, 409, 412, 413, 415, 428, 503)
CREATED_HEADERS = {"Location": LOCATION_HEADER, "ETag": ETAG_HEADER}
NOT_MODIFIED = "Not Modified: the ETag in If-None-Match is current."
# Request bodies as Swagger UI's "Try it out" sends them untouched (createUser's is built from
# the schema's examples: the course user). Each creates other emails, so none conflicts.
REPLACE_EXAMPLE = {
    "name": "Priyanshu",
    "email": "priyanshu@example.com",
    "role": "Site Reliability Engineer",
    "skills": ["Docker", "Kubernetes", "AWS", "Terraform"],
    "experience": {"years": 6, "companies": ["Company A", "Company B"]},
    "active": True,
}
PATCH_EXAMPLE = {"role": "Site Reliability Engineer", "experience": {"years": 6}}
BATCH_EXAMPLE = {
    "items": [
        {"name": "Ada Lovelace", "email": "ada@example.com", "role": "Engineer"},
        {"name": "Grace Hopper", "email": "grace@example.com", "skills": ["COBOL"]},
    ]
}
OBJECT_ID = re.compile("[0-9a-f]{24}")
# The tags this API issues: a version, in ASCII digits without leading zeros, below 10**18 (an
# int64). A strong comparison is of the exact characters, so "01" is not "1", nor is "\u0661"
# (ARABIC-INDIC DIGIT ONE, which int() reads as 1); and a longer run of digits is no version of
# ours (int() refuses more than 4300 digits, BSON more than 64 bits: both would be a 500).
VERSION_TAG = re.compile("[1-9][0-9]{0,17}")


def etag(user: dict[str, Any]) -> str:
    return f'"{user["version"]}"'


def expected_versions() -> list[int] | None:
    """The versions If-Match accepts; None without If-Match (or with `*`: any version).

    With REQUIRE_IF_MATCH, a write without If-Match is refused with 428.
    """
    if_match = flask.request.if_match
    if not flask.request.headers.get("If-Match"):
        if flask.current_app.config["REQUIRE_IF_MATCH"]:
            raise ApiError(
                428,
                "precondition_required",
                "This server requires If-Match with the user's current ETag on every write.",
            )
        return None
    if if_match.star_tag:
        return None
    # If-Match compares strongly: weak tags never match, and tags we did not issue match nothing.
    # werkzeug parses an empty tag ("") as None.
    return [int(tag) for tag in if_match.as_set() if tag and VERSION_TAG.fullmatch(tag)]


def found(user: dict[str, Any] | None, user_id: str) -> dict[str, Any]:
    if user is None:
        if flask.request.if_match.star_tag:
            raise ApiError(412, "precondition_failed", "If-Match: * and there is no such user.")
        raise ApiError(404, "not_found", f"No user with id {user_id}.")
    return user


def user_url(user_id: str) -> str:
    return flask.url_for("users.UserById", user_id=user_id)


def links(pairs: dict[str, dict[str, Any]]) -> str:
    """RFC 8288 Link header value: rel -> query arguments replacing those of this request.

    Every value of a repeated argument is kept (`skill=A&skill=B`), so following a link keeps
    the filters of the page it came from.
    """
    args = [
        (name, value)
        for name, value in flask.request.args.items(multi=True)
        if name not in {"page", "cursor"}
    ]

    def url(changes: dict[str, Any]) -> str:
        kept = [(name, value) for name, value in args if name not in changes]
        return f"{flask.request.path}?{urlencode([*kept, *changes.items()])}"

    return ", ".join(f'<{url(changes)}>; rel="{rel}"' for rel, changes in pairs.items())


def page_links(page: int, page_size: int, total: int | None, more: bool) -> str:
    pages = {"first": 1}
    if page > 1:
        pages["prev"] = page - 1 if total is None else min(page - 1, max(1, -(-total // page_size)))
    if more:
        pages["next"] = page + 1
    if total is not None:
        pages["last"] = max(1, -(-total // page_size))
    return links({rel: {"page": number, "page_size": page_size} for rel, number in pages.items()})


def cursor_position(cursor: str, sort: str | None) -> tuple[str, tuple[Any, str]]:
    """The sort order and (value, id) position a cursor stands for; 400 when it is not ours."""
    try:
        cursor_sort, value, user_id = cursors.decode(cursor)
    except ValueError:
        cursor_sort = value = user_id = None
    valid = (
        cursor_sort in SORT_KEYS
        and isinstance(user_id, str)
        and OBJECT_ID.fullmatch(user_id) is not None
        and isinstance(value, datetime) == (cursor_sort.lstrip("-") == "created_at")
    )
    if not valid:
        raise ApiError(400, "invalid_cursor", "This cursor was not made by this API.")
    if sort is not None and sort != cursor_sort:
        raise ApiError(
            400, "invalid_query", "A cursor keeps the sort of its first page: leave out `sort`."
        )
    return cursor_sort, (value, user_id)


def check_ranges(filters: dict[str, Any]) -> None:
    for low, high in (("min_years", "max_years"), ("created_after", "created_before")):
        if None not in (filters.get(low), filters.get(high)) and filters[low] > filters[high]:
            raise ApiError(400, "invalid_query", f"`{low}` is greater than `{high}`.")


async def create(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """createUser's answer: the user and its Location and ETag headers."""
    user = await crud.create_user(current_store(), data=data)
    return user, {"Location": user_url(user["id"]), "ETag": etag(user)}


async def fetch(user_id: str) -> Any:
    """getUser's answer: the user and its ETag, or 304 when If-None-Match holds that ETag."""
    user = found(await crud.get_user(current_store(), user_id=user_id), user_id)
    tag = etag(user)
    if flask.request.if_none_match.contains_weak(tag.strip('"')):
        return flask.Response(status=304, headers={"ETag": tag})
    return user, {"ETag": tag}


@blp.route("")
class Users(MethodView):
    @blp.doc(operationId="listUsers")
    @blp.arguments(UserListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, UserPageSchema, headers={"Link": LINK_HEADER})
    @blp.errors(400, 503)
    async def get(
        self,
        page_size: int,
        include_total: bool,
        page: int | None = None,
        cursor: str | None = None,
        sort: str | None = None,
        fields: list[str] | None = None,
        **filters: Any,
    ) -> Any:
        """List users

        One page of users matching every filter given, with RFC 8288 `Link` headers. Page by
        number (`page`) or, to neither repeat nor skip users while others are added, by the
        `next_cursor` each page returns (`cursor`).
        """
        if page is not None and cursor is not None:
            raise ApiError(400, "invalid_query", "Use either `page` or `cursor`, not both.")
        check_ranges(filters)
        page_size = min(page_size, flask.current_app.config["MAX_PAGE_SIZE"])
        after = None
        if cursor is not None:
            sort, after = cursor_position(cursor, sort)
        sort = sort or "created_at"
        result = await crud.list_users(
            current_store(),
            filters=filters,
            sort=sort,
            skip=0 if after else ((page or 1) - 1) * page_size,
            after=after,
            limit=page_size,
            fields=fields,
            count=include_total,
        )
        next_cursor = cursors.encode(sort, *result["next"]) if result["next"] else None
        body: dict[str, Any] = {"items": result["items"], "page_size": page_size}
        if include_total:
            body["total"] = result["total"]
        body["next_cursor"] = next_cursor
        if after is None:
            body["page"] = page or 1
            link = page_links(page or 1, page_size, result["total"], next_cursor is not None)
        else:
            pairs = {"first": {"page_size": page_size}}
            if next_cursor:
                pairs["next"] = {"cursor": next_cursor, "page_size": page_size}
            link = links(pairs)
        return body, {"Link": link}

    @blp.doc(operationId="createUser", parameters=[idempotency.PARAMETER])
    @idempotency.idempotent
    @blp.arguments(UserInputSchema, description="The new user: `name` and `email` are required.")
    @blp.response(
        201,
        UserSchema,
        headers={**CREATED_HEADERS, "Idempotent-Replayed": idempotency.REPLAYED},
    )
    @blp.errors(400, 409, 413, 415, 503)
    async def post(self, data: dict[str, Any]) -> Any:
        """Create a user

        `email` must not belong to another user (compared case-insensitively): 409 otherwise.
        With an `Idempotency-Key`, a retry of the same request creates nothing and gets the
        first answer again.
        """
        return await create(data)


# Failed items of a batch that carry their problem (the docstring of createUsers says so).
PROBLEMS_PER_BATCH = 5


@blp.route("/batch")
class UsersBatch(MethodView):
    @blp.doc(operationId="createUsers", parameters=[idempotency.PARAMETER])
    @idempotency.idempotent
    @blp.arguments(
        UserBatchSchema, description="The users to create, as `items`.", example=BATCH_EXAMPLE
    )
    @blp.response(200, UserBatchResultSchema, headers={"Idempotent-Replayed": idempotency.REPLAYED})
    @blp.errors(400, 409, 413, 415, 503)
    async def post(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Create several users in one request

        One database round trip for up to MAX_BATCH_ITEMS (100) users. Each item gets the
        status a single createUser would have answered (201, 409 or 422) with the user or the
        problem; the valid items are created whatever happens to the others. An
        `Idempotency-Key` makes a retry of the whole batch safe.

        So that the answer stays small, only the first 5 failed items carry their problem
        (each listing at most 10 fields in `errors`); later ones carry their status alone.
        """
        limit = flask.current_app.config["MAX_BATCH_ITEMS"]
        if len(batch["items"]) > limit:
            raise ApiError(
                422,
                "validation_failed",
                "The batch has too many items.",
                errors={"items": [f"At most {limit} items."]},
            )
        schema = UserInputSchema()
        results: dict[int, dict[str, Any]] = {}
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(batch["items"]):
            try:
                valid.append((index, schema.load(item)))
            except ma.ValidationError as error:
                detail = "The item does not match the schema; see errors."
                errors = flatten_messages(error.messages)
                problem = problem_body(422, "validation_failed", detail, errors=errors)
                results[index] = {"index": index, "status": 422, "problem": problem}
        created = await crud.create_users(current_store(), items=[data for _, data in valid])
        for (index, _), user in zip(valid, created, strict=True):
            if user is None:
                results[index] = {"index": index, "status": 409, "problem": email_taken_body()}
            else:
                results[index] = {"index": index, "status": 201, "user": user}
        items = [results[index] for index in sorted(results)]
        failed = [item for item in items if item["status"] != 201]
        for item in failed[PROBLEMS_PER_BATCH:]:
            del item["problem"]
        done = len(items) - len(failed)
        return {
            "items": items,
            "created": done,
            "failed": len(failed),
        }


@blp.route("/<objectid:user_id>", parameters=[USER_ID])
class UserById(MethodView):
    @blp.doc(operationId="getUser", parameters=[IF_NONE_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description=NOT_MODIFIED, headers={"ETag": ETAG_HEADER})
    @blp.errors(404, 503)
    async def get(self, user_id: str) -> Any:
        """Get a user

        With If-None-Match holding the current ETag, answers 304 with no body.
        """
        return await fetch(user_id)

    @blp.doc(operationId="replaceUser", parameters=[IF_MATCH])
    @blp.arguments(
        UserInputSchema, description="Every writable field of the user.", example=REPLACE_EXAMPLE
    )
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(*WRITE_ERRORS)
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
    @blp.arguments(
        UserPatchSchema,
        content_type=MERGE_PATCH,
        description="A merge patch: only the fields to change; null removes or resets.",
        example=PATCH_EXAMPLE,
    )
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(*WRITE_ERRORS)
    async def patch(self, changes: dict[str, Any], user_id: str) -> Any:
        """Update some fields of a user

        A JSON Merge Patch (RFC 7396, `application/merge-patch+json`; `application/json` is
        accepted too): only the fields sent change, `experience` merges field by field, and
        `null` removes `role` or `experience` and resets `skills` and `active`.
        """
        user = await crud.update_user(
            current_store(), user_id=user_id, changes=changes, versions=expected_versions()
        )
        user = found(user, user_id)
        return user, {"ETag": etag(user)}

    @blp.doc(operationId="deleteUser", parameters=[IF_MATCH])
    @blp.response(204)
    @blp.errors(404, 412, 428, 503)
    async def delete(self, user_id: str) -> None:
        """Delete a user

        Answers 204 with no body. With If-Match, deletes only while the ETag is current.
        """
        deleted = await crud.delete_user(
            current_store(), user_id=user_id, versions=expected_versions()
        )
        if not deleted:
            found(None, user_id)


@blp.route("/<objectid:user_id>/skills/<skill:skill>", parameters=[USER_ID, SKILL])
class UserSkill(MethodView):
    @blp.doc(operationId="addUserSkill", parameters=[IF_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(404, 409, 412, 422, 428, 503)
    async def put(self, user_id: str, skill: str) -> Any:
        """Add a skill to a user

        Idempotent: adding a skill the user has changes nothing. 409 `too_many_skills` when
        the user already has the maximum of 50.
        """
        user = await crud.add_skill(
            current_store(),
            user_id=user_id,
            skill=valid_skill(skill),
            max_skills=MAX_SKILLS,
            versions=expected_versions(),
        )
        user = found(user, user_id)
        return user, {"ETag": etag(user)}

    @blp.doc(operationId="removeUserSkill", parameters=[IF_MATCH])
    @blp.response(200, UserSchema, headers={"ETag": ETAG_HEADER})
    @blp.errors(404, 412, 422, 428, 503)
    async def delete(self, user_id: str, skill: str) -> Any:
        """Remove a skill from a user

        Idempotent: removing a skill the user does not have changes nothing.
        """
        user = await crud.remove_skill(
            current_store(), user_id=user_id, skill=valid_skill(skill), versions=expected_versions()
        )
        user = found(user, user_id)
        return user, {"ETag": etag(user)}


def valid_skill(skill: str) -> str:
    """The skill of the path, refused (422) when it would not be a valid item of `skills`."""
    try:
        return SKILL_FIELD.deserialize(skill)
    except ma.ValidationError as error:
        raise ApiError(
            422,
            "validation_failed",
            "The skill in the path is not a valid skill.",
            errors={"skill": error.messages},
        ) from None
