"""marshmallow schemas: the shapes of the published contract, one schema per shape.

Request bodies are strict JSON: a number is not a string, "true" is not a boolean, and unknown
or read-only fields are refused (422), so what the spec says is exactly what is accepted.
"""

from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

# A JSON Schema `pattern` is searched anywhere in the string; marshmallow matches from the start.
# This one means the same in both: at least one character that is neither white space nor a
# control character. The class is spelled out because `\s` differs between ECMA-262 (what the
# spec's readers use) and Python (\x1c-\x1f and \x85 are white space only in Python).
NOT_BLANK = validate.Regexp(
    r"[\s\S]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]",
    error="Must not be blank.",
)


def _unique(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError("Items must be unique.")


class StrictBoolean(ma.fields.Boolean):
    """A JSON boolean, nothing else ("true", 1 and "yes" are refused)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonInteger(ma.fields.Integer):
    """A JSON integer: `5` or `5.0` (both integers to JSON Schema); not `5.5`, `"5"` or `true`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


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


def _doc(description: str, example: Any) -> dict[str, Any]:
    """The `metadata` keyword argument of a field: what the spec says of it."""
    return {"metadata": {"description": description, "example": example}}


def _text(description: str, example: str, *, max_length: int = 100) -> dict[str, Any]:
    """Keyword arguments of a non-blank string field of at most `max_length` characters."""
    checks = [validate.Length(min=1, max=max_length), NOT_BLANK]
    return {"validate": checks, **_doc(description, example)}


class ExperienceSchema(ma.Schema):
    """Professional experience of a user."""

    years = JsonInteger(
        validate=validate.Range(min=0, max=80),
        **_doc("Years of professional experience, 0 to 80.", 5),
    )
    companies = ma.fields.List(
        ma.fields.String(**_text("A company name.", "Company A")),
        load_default=list,
        validate=validate.Length(max=50),
        **_doc("Companies worked for, at most 50.", ["Company A", "Company B"]),
    )


class UserSchema(ma.Schema):
    """A user of the directory. `id`, `created_at` and `updated_at` are set by the server."""

    id = ma.fields.String(
        dump_only=True,
        **_doc(
            "MongoDB ObjectId, 24 hex characters; set by the server.", "6566f0c4e1b2c3d4e5f60718"
        ),
    )
    name = ma.fields.String(required=True, **_text("Display name, not blank.", "Priyanshu"))
    email = ma.fields.Email(
        required=True,
        validate=validate.Length(max=254),
        **_doc("Unique, compared case-insensitively; stored as given.", "priyanshu@example.com"),
    )
    role = ma.fields.String(**_text("Job title; not blank.", "DevOps Engineer"))
    skills = ma.fields.List(
        ma.fields.String(**_text("A skill.", "Docker")),
        load_default=list,
        validate=[validate.Length(max=50), _unique],
        metadata={
            "description": "Distinct skills, at most 50.",
            "uniqueItems": True,
            "default": [],
            "example": ["Docker", "Kubernetes", "AWS"],
        },
    )
    experience = ma.fields.Nested(
        ExperienceSchema,
        **_doc(
            "Professional experience; PATCH merges it field by field.",
            {"years": 5, "companies": ["Company A", "Company B"]},
        ),
    )
    active = StrictBoolean(
        load_default=True,
        **_doc("Whether the account is active.", True),
    )
    created_at = UtcDateTime(
        dump_only=True,
        **_doc(
            "When the user was created (RFC 3339, UTC); set by the server.",
            "2024-01-15T00:00:00.000Z",
        ),
    )
    updated_at = UtcDateTime(
        dump_only=True,
        **_doc(
            "When the user last changed (RFC 3339, UTC); set by the server.",
            "2024-01-15T00:00:00.000Z",
        ),
    )


SORT_KEYS = ["created_at", "-created_at", "name", "-name", "email", "-email"]


class UserListQuerySchema(ma.Schema):
    """Paging, filters and order of a user list."""

    page = ma.fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=10_000_000),
        **_doc("Page number, from 1.", 1),
    )
    page_size = ma.fields.Integer(
        load_default=20,
        validate=validate.Range(min=1),
        **_doc("Users per page; values above MAX_PAGE_SIZE (100) are capped.", 20),
    )
    role = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        **_doc("Only users with exactly this role.", "DevOps Engineer"),
    )
    active = QueryBoolean(**_doc("Only active (true) or inactive (false) users.", True))
    skill = ma.fields.String(
        validate=validate.Length(min=1, max=100),
        **_doc("Only users having this skill.", "Docker"),
    )
    sort = ma.fields.String(
        load_default="created_at",
        validate=validate.OneOf(SORT_KEYS),
        metadata={
            "description": "Sort key; a leading `-` sorts in descending order.",
            "example": "-created_at",
            # Member names for generated SDKs, which cannot derive one from "-name".
            "x-enum-varnames": [
                key.upper().replace("-", "") + ("_DESC" if key[0] == "-" else "")
                for key in SORT_KEYS
            ],
        },
    )


class UserPageSchema(ma.Schema):
    """One page of users, in the order asked for, with the number of users matching."""

    items = ma.fields.List(
        ma.fields.Nested(UserSchema),
        required=True,
        metadata={
            "description": "The users of this page, at most `page_size`.",
            "example": [
                {
                    "id": "6566f0c4e1b2c3d4e5f60718",
                    "name": "Priyanshu",
                    "email": "priyanshu@example.com",
                    "role": "DevOps Engineer",
                    "skills": ["Docker", "Kubernetes", "AWS"],
                    "experience": {"years": 5, "companies": ["Company A", "Company B"]},
                    "active": True,
                    "created_at": "2024-01-15T00:00:00.000Z",
                    "updated_at": "2024-01-15T00:00:00.000Z",
                }
            ],
        },
    )
    page = ma.fields.Integer(required=True, **_doc("This page's number, from 1.", 1))
    page_size = ma.fields.Integer(
        required=True,
        **_doc("Users per page, after capping.", 20),
    )
    total = ma.fields.Integer(
        required=True,
        **_doc("Users matching the filters, on every page.", 57),
    )


class StatusSchema(ma.Schema):
    """The answer of a health probe."""

    status = ma.fields.String(
        required=True,
        **_doc("Always `ok` (failures are problem details).", "ok"),
    )


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details: the body of every error response."""

    type = ma.fields.String(
        required=True,
        **_doc("Always `about:blank`: `code` tells problems apart.", "about:blank"),
    )
    title = ma.fields.String(
        required=True,
        **_doc("The HTTP status phrase.", "Not Found"),
    )
    status = ma.fields.Integer(required=True, **_doc("The HTTP status code.", 404))
    detail = ma.fields.String(
        required=True,
        **_doc(
            "What went wrong, in a sentence for people.",
            "No user with id 6566f0c4e1b2c3d4e5f60718.",
        ),
    )
    instance = ma.fields.String(
        required=True,
        **_doc("The request path.", "/api/v1/users/6566f0c4e1b2c3d4e5f60718"),
    )
    code = ma.fields.String(
        required=True,
        **_doc("Stable, machine-readable error code.", "not_found"),
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        **_doc(
            "Validation messages by field (dotted path for nested fields).",
            {"email": ["Not a valid email address."]},
        ),
    )


def schema_name(schema: type[ma.Schema] | ma.Schema) -> str:
    """Component name in the spec: `UserSchema` -> `User`; its partial instance -> `UserPatch`."""
    schema_class = schema if isinstance(schema, type) else type(schema)
    name = schema_class.__name__.removesuffix("Schema")
    if isinstance(schema, ma.Schema) and schema.partial:
        name += "Patch"
    return name
