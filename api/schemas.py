"""marshmallow schemas: the shapes of the published contract, one schema per shape.

Request bodies are strict JSON: a number is not a string, "true" is not a boolean, and unknown
or read-only fields are refused (422), so what the spec says is exactly what is accepted.
"""

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate
from webargs.fields import DelimitedList

# A JSON Schema `pattern` is searched anywhere in the string; marshmallow matches from the start.
# This one means the same in both: at least one character that is not white space.
NOT_BLANK = validate.Regexp(r"[\s\S]*\S", error="Must not be blank.")


MAX_SKILLS = 50


def _unique(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError("Items must be unique.")


class StrictBoolean(ma.fields.Boolean):
    """A JSON boolean, nothing else ("true", 1 and "yes" are refused)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class QueryBoolean(ma.fields.Boolean):
    """A boolean in a query string: exactly `true` or `false`."""

    truthy = {"true"}
    falsy = {"false"}


class UtcDateTime(ma.fields.DateTime):
    """RFC 3339 in UTC with a `Z`, to the millisecond (what MongoDB stores)."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ExperienceSchema(ma.Schema):
    years = ma.fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=80),
        metadata={"description": "Years of professional experience.", "example": 5},
    )
    companies = ma.fields.List(
        ma.fields.String(validate=[validate.Length(min=1, max=100), NOT_BLANK]),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "Companies worked for.", "example": ["Company A", "Company B"]},
    )


class UserSchema(ma.Schema):
    """A user of the directory. `id`, `created_at` and `updated_at` are set by the server."""

    id = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "MongoDB ObjectId, 24 hex characters.",
            "example": "6566f0c4e1b2c3d4e5f60718",
        },
    )
    name = ma.fields.String(
        required=True,
        validate=[validate.Length(min=1, max=100), NOT_BLANK],
        metadata={"example": "Priyanshu"},
    )
    email = ma.fields.Email(
        required=True,
        validate=validate.Length(max=254),
        metadata={
            "description": "Unique, compared case-insensitively; stored as given.",
            "example": "priyanshu@example.com",
        },
    )
    role = ma.fields.String(
        validate=[validate.Length(min=1, max=100), NOT_BLANK],
        metadata={"example": "DevOps Engineer"},
    )
    skills = ma.fields.List(
        ma.fields.String(validate=[validate.Length(min=1, max=100), NOT_BLANK]),
        load_default=list,
        validate=[validate.Length(max=MAX_SKILLS), _unique],
        metadata={
            "description": "Distinct skills, at most 50.",
            "uniqueItems": True,
            "default": [],
            "example": ["Docker", "Kubernetes", "AWS"],
        },
    )
    experience = ma.fields.Nested(ExperienceSchema)
    active = StrictBoolean(load_default=True, metadata={"example": True})
    created_at = UtcDateTime(dump_only=True, metadata={"example": "2024-01-15T00:00:00.000Z"})
    updated_at = UtcDateTime(dump_only=True, metadata={"example": "2024-01-15T00:00:00.000Z"})


class UserPatchSchema(UserSchema):
    """A JSON Merge Patch (RFC 7396) of a user: only the fields sent change, objects merge.

    `null` removes `role` or `experience`, and returns `skills` and `active` to their defaults.
    """

    NULLABLE = ("role", "skills", "experience", "active")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        if field_name in self.NULLABLE:
            field_obj.allow_none = True

    @ma.post_load
    def _defaults_for_nulls(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name, value in data.items():
            default = self.fields[name].load_default
            if value is None and default is not ma.missing:
                data[name] = default() if callable(default) else default
        return data


SORT_KEYS = ["created_at", "-created_at", "name", "-name", "email", "-email"]
USER_FIELDS = list(UserSchema().fields)


class UserListQuerySchema(ma.Schema):
    """Query arguments of listUsers. Every filter given must match."""

    page = ma.fields.Integer(
        validate=validate.Range(min=1, max=10_000_000),
        metadata={"description": "Page number, from 1 (default 1). Not with `cursor`."},
    )
    cursor = ma.fields.String(
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": "Opaque position from a previous page's `next_cursor`: paging by "
            "cursor neither repeats nor skips users when others are added meanwhile."
        },
    )
    page_size = ma.fields.Integer(
        load_default=20,
        validate=validate.Range(min=1),
        metadata={"description": "Users per page; values above MAX_PAGE_SIZE (100) are capped."},
    )
    role = ma.fields.String(
        validate=validate.Length(min=1, max=100), metadata={"description": "Exact role."}
    )
    active = QueryBoolean(metadata={"description": "Only active (true) or inactive (false) users."})
    skill = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(max=10),
        metadata={"description": "Users having every one of these skills (repeat the argument)."},
    )
    company = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Users who worked for this company (exact name)."},
    )
    min_years = ma.fields.Integer(
        validate=validate.Range(min=0, max=80),
        metadata={"description": "At least this many years of experience."},
    )
    max_years = ma.fields.Integer(
        validate=validate.Range(min=0, max=80),
        metadata={"description": "At most this many years of experience."},
    )
    q = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Case-insensitive substring of the name or the email."},
    )
    created_after = ma.fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "Created strictly after this instant (RFC 3339)."},
    )
    created_before = ma.fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "Created strictly before this instant (RFC 3339)."},
    )
    sort = ma.fields.String(
        validate=validate.OneOf(SORT_KEYS),
        metadata={
            "description": "Sort key (default created_at); a leading `-` sorts in descending "
            "order. With `cursor`, the cursor's own sort applies."
        },
    )
    fields = DelimitedList(
        ma.fields.String(validate=validate.OneOf(USER_FIELDS)),
        metadata={"description": "Comma-separated fields to return (`id` always is)."},
    )
    include_total = QueryBoolean(
        load_default=True,
        metadata={"description": "Count the matching users (`total`); false saves a query."},
    )


class LegacyListQuerySchema(ma.Schema):
    page = ma.fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=10_000_000),
        metadata={"description": "Page number, from 1."},
    )
    page_size = ma.fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "Users per page (default and cap: MAX_PAGE_SIZE, 100)."},
    )


class UserPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UserSchema), required=True)
    page = ma.fields.Integer(
        metadata={"description": "Page number; absent when paging by cursor.", "example": 1}
    )
    page_size = ma.fields.Integer(required=True, metadata={"example": 20})
    total = ma.fields.Integer(
        metadata={
            "description": "Users matching the filters; absent with include_total=false.",
            "example": 57,
        }
    )
    next_cursor = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "Pass as `cursor` for the next page; null on the last page.",
            "example": "eyJzIjoiY3JlYXRlZF9hdCJ9",
        },
    )


class ItemToValidate(ma.fields.Nested):
    """Documented as the nested schema, but only checked to be an object on loading: the view
    validates each item itself, so that one invalid item does not fail a whole batch."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ma.ValidationError("Not an object.")
        return value


class UserBatchSchema(ma.Schema):
    items = ma.fields.List(
        ItemToValidate(UserSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Users to create, at most MAX_BATCH_ITEMS (100)."},
    )


class UserBatchItemResultSchema(ma.Schema):
    index = ma.fields.Integer(
        required=True, metadata={"description": "Position of the item in the request."}
    )
    status = ma.fields.Integer(
        required=True,
        metadata={
            "description": "What a single createUser would have answered: 201 created, 409 "
            "email taken, 422 invalid.",
            "example": 201,
        },
    )
    user = ma.fields.Nested(UserSchema, metadata={"description": "The created user (201)."})
    problem = ma.fields.Nested(
        "ProblemSchema", metadata={"description": "Why the item was not created (409, 422)."}
    )


class UserBatchResultSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UserBatchItemResultSchema), required=True)
    created = ma.fields.Integer(required=True, metadata={"description": "Users created."})
    failed = ma.fields.Integer(required=True, metadata={"description": "Items not created."})


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details: the body of every error response."""

    type = ma.fields.String(
        required=True,
        metadata={"description": "Always about:blank: `code` tells problems apart."},
    )
    title = ma.fields.String(required=True, metadata={"example": "Not Found"})
    status = ma.fields.Integer(required=True, metadata={"example": 404})
    detail = ma.fields.String(
        required=True, metadata={"example": "No user with id 6566f0c4e1b2c3d4e5f60718."}
    )
    instance = ma.fields.String(
        required=True,
        metadata={
            "description": "The request path.",
            "example": "/api/v1/users/6566f0c4e1b2c3d4e5f60718",
        },
    )
    code = ma.fields.String(
        required=True,
        metadata={"description": "Stable, machine-readable error code.", "example": "not_found"},
    )
    request_id = ma.fields.String(
        metadata={
            "description": "The request's X-Request-ID: quote it when reporting a problem.",
            "example": "6f1c2a9e0b5d4c3e8a7f6e5d4c3b2a19",
        }
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={
            "description": "Validation messages by field (dotted path for nested fields).",
            "example": {"email": ["Not a valid email address."]},
        },
    )


def schema_name(schema: type[ma.Schema] | ma.Schema) -> str:
    """Component name in the spec: `UserSchema` -> `User`."""
    schema_class = schema if isinstance(schema, type) else type(schema)
    return schema_class.__name__.removesuffix("Schema")
