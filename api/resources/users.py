"""/api/v1/users: the users directory over HTTP.

The views hold what is particular to each operation; what several share is in the modules
beside this one (api/resources/__init__.py lists them). `create`, `fetch` and `user_url` are
shared with the deprecated routes (api/resources/legacy.py).
"""

from typing import Any, cast

import flask
import marshmallow as ma
from flask.views import MethodView

from api import crud, idempotency, problems
from api.db import current_store
from api.errors import problem_body
from api.problems import flatten_messages
from api.resources import paging
from api.resources.conditional import etag, expected_versions, found, tagged, unless_not_modified
from api.resources.openapi import (
    CREATED_HEADERS,
    ETAG_HEADER,
    IF_MATCH,
    IF_NONE_MATCH,
    LINK_HEADER,
    NOT_MODIFIED,
    SKILL,
    USER_ID,
)
from api.schemas import (
    MAX_SKILLS,
    UserBatchResultSchema,
    UserBatchSchema,
    UserInputSchema,
    UserListQuerySchema,
    UserPageSchema,
    UserPatchSchema,
    UserSchema,
)
from api.spec import Blueprint

blp = Blueprint("users", __name__, url_prefix="/api/v1/users")


MERGE_PATCH = "application/merge-patch+json"
SKILL_FIELD = cast(ma.fields.List[Any], UserInputSchema().fields["skills"]).inner
WRITE_ERRORS = (400, 404, 409, 412, 413, 415, 428, 503)
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


def check_ranges(filters: dict[str, Any]) -> None:
    """400 when a range filter's low bound is above its high bound."""
    for low, high in (("min_years", "max_years"), ("created_after", "created_before")):
        if None not in (filters.get(low), filters.get(high)) and filters[low] > filters[high]:
            raise problems.EMPTY_RANGE.error(low=low, high=high)


def user_url(user_id: str) -> str:
    """The URL of the user (getUser's)."""
    return flask.url_for("users.UserById", user_id=user_id)


async def create(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """createUser's answer: the user and its Location and ETag headers."""
    user = await crud.create_user(current_store(), data=data)
    return user, {"Location": user_url(user["id"]), "ETag": etag(user)}


async def fetch(user_id: str) -> Any:
    """getUser's answer: the user and its ETag, or 304 when If-None-Match holds that ETag."""
    user = await crud.get_user(current_store(), user_id=user_id)
    return unless_not_modified(user, user_id)


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
        check_ranges(filters)
        asked = paging.asked_for(page=page, cursor=cursor, sort=sort, size=page_size)
        result = await crud.list_users(
            current_store(),
            filters=filters,
            sort=asked.sort,
            skip=asked.skip,
            after=asked.after,
            limit=asked.size,
            fields=fields,
            count=include_total,
        )
        return paging.answer(asked, result, include_total=include_total)

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
            raise problems.TOO_MANY_ITEMS.error(errors={"items": [f"At most {limit} items."]})
        schema = UserInputSchema()
        results: dict[int, dict[str, Any]] = {}
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(batch["items"]):
            try:
                valid.append((index, schema.load(item)))
            except ma.ValidationError as error:
                invalid = problems.INVALID_ITEM.error(errors=flatten_messages(error.messages))
                results[index] = {"index": index, "status": 422, "problem": problem_body(invalid)}
        created = await crud.create_users(current_store(), items=[data for _, data in valid])
        for (index, _), user in zip(valid, created, strict=True):
            if user is None:
                taken = problem_body(problems.EMAIL_TAKEN.error())
                results[index] = {"index": index, "status": 409, "problem": taken}
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
        return tagged(user, user_id)

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
        return tagged(user, user_id)

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
        return tagged(user, user_id)

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
        return tagged(user, user_id)


def valid_skill(skill: str) -> str:
    """The skill of the path, refused (422) when it would not be a valid item of `skills`."""
    try:
        valid: str = SKILL_FIELD.deserialize(skill)
    except ma.ValidationError as error:
        errors = flatten_messages(error.messages, "skill")
        raise problems.INVALID_SKILL.error(errors=errors) from None
    return valid
