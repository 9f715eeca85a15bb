"""marshmallow schemas: the shapes of the published contract, one schema per shape.

Request bodies are strict JSON: a number is not a string, "true" is not a boolean, and unknown
or read-only fields are refused (422), so what the spec says is exactly what is accepted.
"""

from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

# Refused in every text field: C0 and C1 controls (NUL included), the line and paragraph
# separators, and the bidirectional embedding, override and isolate controls, which make text
# display otherwise than it reads ("Trojan Source", CVE-2021-42574). Right-to-left scripts are
# text like any other; the implicit marks U+200E and U+200F are allowed.
CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# White space, spelt out: `\s` differs between Python and the ECMAScript of JSON Schema.
SPACES = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff"


class FullMatch(validate.Regexp):
    """A regex the whole value must match, as JSON Schema reads an anchored `pattern`."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


# Not blank, no control character. Each part's characters exclude the next part's, so the
# match takes linear time whatever the input (no backtracking blow-up).
TEXT = FullMatch(
    rf"^[{SPACES}]*[^{SPACES}{CONTROLS}][^{CONTROLS}]*$",
    error="Must not be blank nor contain control characters.",
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
        ma.fields.String(validate=[validate.Length(min=1, max=100), TEXT]),
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
        validate=[validate.Length(min=1, max=100), TEXT],
        metadata={"example": "Priyanshu"},
    )
    email = ma.fields.Email(
        required=True,
        validate=[validate.Length(max=254), TEXT],
        metadata={
            "description": "Unique, compared case-insensitively; stored as given.",
            "example": "priyanshu@example.com",
        },
    )
    role = ma.fields.String(
        validate=[validate.Length(min=1, max=100), TEXT],
        metadata={"example": "DevOps Engineer"},
    )
    skills = ma.fields.List(
        ma.fields.String(validate=[validate.Length(min=1, max=100), TEXT]),
        load_default=list,
        validate=[validate.Length(max=50), _unique],
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


SORT_KEYS = ["created_at", "-created_at", "name", "-name", "email", "-email"]


class UserListQuerySchema(ma.Schema):
    page = ma.fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=10_000_000),
        metadata={"description": "Page number, from 1."},
    )
    page_size = ma.fields.Integer(
        load_default=20,
        validate=validate.Range(min=1),
        metadata={"description": "Users per page; values above MAX_PAGE_SIZE (100) are capped."},
    )
    role = ma.fields.String(
        validate=[validate.Length(min=1, max=100), TEXT], metadata={"description": "Exact role."}
    )
    active = QueryBoolean(metadata={"description": "Only active (true) or inactive (false) users."})
    skill = ma.fields.String(
        validate=[validate.Length(min=1, max=100), TEXT],
        metadata={"description": "Users having this skill."},
    )
    sort = ma.fields.String(
        load_default="created_at",
        validate=validate.OneOf(SORT_KEYS),
        metadata={"description": "Sort key; a leading `-` sorts in descending order."},
    )


class UserPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UserSchema), required=True)
    page = ma.fields.Integer(required=True, metadata={"example": 1})
    page_size = ma.fields.Integer(required=True, metadata={"example": 20})
    total = ma.fields.Integer(
        required=True, metadata={"description": "Users matching the filters.", "example": 57}
    )


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
            "description": "The request path, percent-encoded.",
            "example": "/api/v1/users/6566f0c4e1b2c3d4e5f60718",
        },
    )
    code = ma.fields.String(
        required=True,
        metadata={"description": "Stable, machine-readable error code.", "example": "not_found"},
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
    """Component name in the spec: `UserSchema` -> `User`; its partial instance -> `UserPatch`."""
    schema_class = schema if isinstance(schema, type) else type(schema)
    name = schema_class.__name__.removesuffix("Schema")
    if isinstance(schema, ma.Schema) and schema.partial:
        name += "Patch"
    return name
