"""marshmallow schemas of users' versions (api/history.py) and of the directory's insights
(api/stats.py): the shapes their operations answer and the query strings they take."""

import marshmallow as ma
from marshmallow import validate

from api.history import OPERATIONS
from api.schemas import (
    USER_EXAMPLE,
    QueryInteger,
    UserListQuerySchema,
    UserSchema,
    UtcDateTime,
    described,
    listed,
    page_number,
)


class PageQuerySchema(ma.Schema):
    """Paging of a short list, newest first."""

    page = page_number(load_default=1)
    page_size = QueryInteger(
        load_default=20,
        validate=validate.Range(min=1),
        **described("Items per page; values above MAX_PAGE_SIZE (100) are capped.", 20),
    )


VERSION_EXAMPLE = {
    "version": 2,
    "written_at": "2024-01-16T09:30:00.000Z",
    "written_by": "ops",
    "operation": "update",
    "user": {**USER_EXAMPLE, "updated_at": "2024-01-16T09:30:00.000Z"},
}


class UserVersionSchema(ma.Schema):
    """One version of a user: the state a write produced, who wrote it and how."""

    version = ma.fields.Integer(
        required=True, **described("The version number: the user's ETag at that state.", 2)
    )
    written_at = UtcDateTime(
        required=True,
        allow_none=True,
        **described("When the write happened (RFC 3339, UTC).", "2024-01-16T09:30:00.000Z"),
    )
    written_by = ma.fields.String(
        required=True,
        allow_none=True,
        **described("Name of the API key that wrote it; null when the server has no keys.", "ops"),
    )
    operation = ma.fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(OPERATIONS),
        metadata={
            "description": "The write that produced it: `restore` brings a user back from the "
            "trash, `restore_version` writes an earlier version again. Null for a state written "
            "before history was kept.",
            "example": "update",
            "enum": list(OPERATIONS),
        },
    )
    user = ma.fields.Nested(
        UserSchema,
        required=True,
        **described("The user as this write left it.", VERSION_EXAMPLE["user"]),
    )


class UserVersionPageSchema(ma.Schema):
    """One page of a user's versions, newest first."""

    items = listed(UserVersionSchema, "The versions of this page, newest first.", [VERSION_EXAMPLE])
    page = ma.fields.Integer(required=True, **described("This page's number.", 1))
    page_size = ma.fields.Integer(
        required=True, **described("Versions per page, after capping.", 20)
    )
    total = ma.fields.Integer(
        required=True,
        **described("Versions kept: at most HISTORY_MAX_VERSIONS, the current one always.", 2),
    )


MAX_TOP = 50


class StatsQuerySchema(UserListQuerySchema):
    """The users to describe: listUsers' filters, every one given must match."""

    class Meta:
        # Paging, order and fields mean nothing here; the trash is not described.
        exclude = ("page", "cursor", "page_size", "sort", "fields", "include_total", "deleted")

    top = QueryInteger(
        load_default=10,
        validate=validate.Range(min=1, max=MAX_TOP),
        **described(
            "How many of the most frequent roles, skills and companies to list (1-50).", 10
        ),
    )


class CountSchema(ma.Schema):
    """How many of the users have one value."""

    value = ma.fields.String(
        required=True,
        allow_none=True,
        **described("The value; null counts the users without one (roles only).", "Docker"),
    )
    count = ma.fields.Integer(required=True, **described("Users with it.", 12))


class BucketSchema(ma.Schema):
    """Users whose years of experience fall in [min, max)."""

    min = ma.fields.Integer(
        required=True, allow_none=True, **described("Lowest years, inclusive; null: unknown.", 0)
    )
    max = ma.fields.Integer(
        required=True, allow_none=True, **described("Highest years, exclusive; null: unknown.", 2)
    )
    label = ma.fields.String(required=True, **described("The bucket as people read it.", "0-1"))
    count = ma.fields.Integer(required=True, **described("Users in it.", 7))


class ActivitySchema(ma.Schema):
    """Active against inactive users."""

    active = ma.fields.Integer(required=True, **described("Active users.", 50))
    inactive = ma.fields.Integer(required=True, **described("Inactive users.", 7))


class MonthSchema(ma.Schema):
    """Users created in one calendar month (UTC)."""

    month = ma.fields.String(required=True, **described("The month, `YYYY-MM`.", "2024-01"))
    count = ma.fields.Integer(required=True, **described("Users created in it.", 9))


class UserStatsSchema(ma.Schema):
    """What the users matching the filters look like: counts, computed in one aggregation."""

    total = ma.fields.Integer(required=True, **described("Users matching the filters.", 57))
    roles = listed(
        CountSchema,
        "The most frequent roles (at most `top`), most frequent first; ties by value.",
        [{"value": "DevOps Engineer", "count": 20}, {"value": None, "count": 3}],
    )
    skills = listed(
        CountSchema, "The most frequent skills (at most `top`).", [{"value": "Docker", "count": 31}]
    )
    companies = listed(
        CountSchema,
        "The most frequent companies (at most `top`).",
        [{"value": "Company A", "count": 12}],
    )
    experience = listed(
        BucketSchema,
        "Years of experience in fixed buckets (0-1, 2-4, 5-9, 10-19, 20+, then unknown), "
        "every bucket listed, empty ones too.",
        [{"min": 0, "max": 2, "label": "0-1", "count": 7}],
    )
    activity = ma.fields.Nested(
        ActivitySchema,
        required=True,
        **described("Active against inactive.", {"active": 50, "inactive": 7}),
    )
    signups = listed(
        MonthSchema,
        "Users created per month, oldest first: the 120 most recent months with any.",
        [{"month": "2024-01", "count": 9}],
    )
