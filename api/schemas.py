"""marshmallow schemas: the shapes of the published contract, one schema per shape.

Request bodies are strict JSON: a number is not a string, "true" is not a boolean, and unknown
or read-only fields are refused (422), so what the spec says is exactly what is accepted.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate
from webargs.fields import DelimitedList

from api import emails

# Refused in every text field: C0 and C1 controls (NUL included), the line and paragraph
# separators, and the bidirectional embedding, override and isolate controls, which make text
# display otherwise than it reads ("Trojan Source", CVE-2021-42574). Right-to-left scripts are
# text like any other; the implicit marks U+200E and U+200F are allowed.
CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# White space, spelt out: `\s` differs between Python and the ECMAScript of JSON Schema.
SPACES = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff"


class FullMatch(validate.Regexp):
    """A regex the whole value must match, as JSON Schema reads an anchored `pattern`."""

    regex: re.Pattern[str]  # compiled from a str: it validates text only

    # Text only, where Regexp's overloads take bytes too: no field of ours holds bytes.
    def __call__(self, value: str) -> str:  # type: ignore[override]
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


# Not blank, no control character. Each part's characters exclude the next part's, so the
# match takes linear time whatever the input (no backtracking blow-up).
TEXT = FullMatch(
    rf"^[{SPACES}]*[^{SPACES}{CONTROLS}][^{CONTROLS}]*$",
    error="Must not be blank nor contain control characters.",
)


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


class QueryInteger(ma.fields.Integer):
    """An integer in a query string: ASCII digits, optionally after a `-`.

    int() alone would also read ARABIC-INDIC DIGIT ONE (U+0661) as 1, and " 1", "+1", "1_000".
    """

    DIGITS = re.compile("-?[0-9]+")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not (isinstance(value, str) and self.DIGITS.fullmatch(value)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class QueryDateTime(ma.fields.AwareDateTime):
    """An RFC 3339 instant in a query string (UTC when it has no offset), as a UTC datetime.

    An offset can take an instant past the years 1 to 9999 that a datetime holds
    (`9999-12-31T23:59:59-01:00`): that is not a valid instant either, rather than a 500 where
    the query is built.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            return instant.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None


class Text(ma.fields.String):
    """A string, normalized to Unicode NFC: two spellings of `Café` (a composed `é`, or `e`
    then U+0301) are one text, as stored, compared and counted."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))


def _valid_email(address: str) -> None:
    try:
        emails.mailbox_key(address)
    except emails.NotAnAddress:
        raise ma.ValidationError("Not a valid email address.") from None


class EmailAddress(Text):
    """An email address as api/emails.py defines one, normalized to NFC like any text."""

    def __init__(self, **kwargs: Any) -> None:
        validators: list[Callable[[Any], Any]] = [
            validate.Length(max=emails.MAX_LENGTH),
            TEXT,
            _valid_email,
        ]
        metadata = {"format": "email", **kwargs.pop("metadata", {})}
        super().__init__(validate=validators, metadata=metadata, **kwargs)


def described(description: str, example: Any) -> dict[str, Any]:
    """The `metadata` keyword argument of a field: what the spec says of it."""
    return {"metadata": {"description": description, "example": example}}


def listed(schema: type[ma.Schema], description: str, example: list[Any]) -> ma.fields.Field[Any]:
    """A required list of `schema` objects, with what the spec says of it."""
    return ma.fields.List(
        ma.fields.Nested(schema), required=True, **described(description, example)
    )


def _text(description: str, example: str, *, max_length: int = 100) -> dict[str, Any]:
    """Keyword arguments of a non-blank string field of at most `max_length` characters."""
    checks = [validate.Length(min=1, max=max_length), TEXT]
    return {"validate": checks, **described(description, example)}


class ExperienceSchema(ma.Schema):
    """Professional experience of a user."""

    years = JsonInteger(
        validate=validate.Range(min=0, max=80),
        **described("Years of professional experience, 0 to 80.", 5),
    )
    companies = ma.fields.List(
        Text(**_text("A company name.", "Company A")),
        load_default=list,
        validate=validate.Length(max=50),
        **described("Companies worked for, at most 50.", ["Company A", "Company B"]),
    )


class UserInputSchema(ma.Schema):
    """A user as a request sends it: `id`, `created_at` and `updated_at` are read-only, set by
    the server (and refused here)."""

    id = ma.fields.String(
        dump_only=True,
        **described(
            "MongoDB ObjectId, 24 hex characters; set by the server.", "6566f0c4e1b2c3d4e5f60718"
        ),
    )
    name = Text(required=True, **_text("Display name, not blank.", "Priyanshu"))
    email = EmailAddress(
        required=True,
        **described(
            "Unique: one mailbox, one user. Stored as given, normalized to Unicode NFC. Compared "
            "case-insensitively, and with the domain mapped by IDNA (UTS 46), so `bücher.example`, "
            "`xn--bcher-kva.example` and `ｂüｃｈｅｒ.example` are one domain.",
            "priyanshu@example.com",
        ),
    )
    role = Text(**_text("Job title; not blank.", "DevOps Engineer"))
    skills = ma.fields.List(
        Text(**_text("A skill.", "Docker")),
        load_default=list,
        validate=[validate.Length(max=MAX_SKILLS), _unique],
        metadata={
            "description": "Distinct skills, at most 50.",
            "uniqueItems": True,
            "default": [],
            "example": ["Docker", "Kubernetes", "AWS"],
        },
    )
    experience = ma.fields.Nested(
        ExperienceSchema,
        **described(
            "Professional experience; PATCH merges it field by field.",
            {"years": 5, "companies": ["Company A", "Company B"]},
        ),
    )
    active = StrictBoolean(
        load_default=True,
        **described("Whether the account is active.", True),
    )
    created_at = UtcDateTime(
        dump_only=True,
        **described(
            "When the user was created (RFC 3339, UTC); set by the server.",
            "2024-01-15T00:00:00.000Z",
        ),
    )
    updated_at = UtcDateTime(
        dump_only=True,
        **described(
            "When the user last changed (RFC 3339, UTC); set by the server.",
            "2024-01-15T00:00:00.000Z",
        ),
    )
    deleted_at = UtcDateTime(
        dump_only=True,
        **described(
            "In the trash only: when the user was deleted (RFC 3339, UTC). `restoreUser` "
            "brings it back until TRASH_TTL_SECONDS have passed.",
            "2024-02-01T00:00:00.000Z",
        ),
    )


SERVER_FIELDS = ("id", "created_at", "updated_at")


class UserSchema(UserInputSchema):
    """A user of the directory, as the server answers it: `id`, `created_at` and `updated_at`
    are always there."""

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        if field_name in SERVER_FIELDS:
            field_obj.required = True  # in the spec; nothing loads a dump-only field


class UserPatchSchema(UserInputSchema):
    """A JSON Merge Patch (RFC 7396) of a user: only the fields sent change, objects merge.

    `null` removes `role` or `experience`, and returns `skills` and `active` to their defaults.
    """

    NULLABLE = ("role", "skills", "experience", "active")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
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
USER_EXAMPLE = {
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


def page_number(description: str = "Page number, from 1.", **kwargs: Any) -> QueryInteger:
    """The `page` query argument of a list paged by number (from 1 to ten million)."""
    return QueryInteger(
        validate=validate.Range(min=1, max=10_000_000), **kwargs, **described(description, 1)
    )


class UserListQuerySchema(ma.Schema):
    """Paging, filters and order of a user list. Every filter given must match."""

    page = page_number("Page number, from 1 (default 1). Not with `cursor`.")
    # No example: only a cursor the API issued is valid.
    cursor = ma.fields.String(
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": "Opaque position from a previous page's `next_cursor`: paging by "
            "cursor neither repeats nor skips users when others are added meanwhile."
        },
    )
    page_size = QueryInteger(
        load_default=20,
        validate=validate.Range(min=1),
        **described("Users per page; values above MAX_PAGE_SIZE (100) are capped.", 20),
    )
    role = Text(
        validate=[validate.Length(min=1, max=100), TEXT],
        **described("Only users with exactly this role.", "DevOps Engineer"),
    )
    active = QueryBoolean(**described("Only active (true) or inactive (false) users.", True))
    skill = ma.fields.List(
        Text(validate=[validate.Length(min=1, max=100), TEXT], **described("A skill.", "Docker")),
        validate=validate.Length(max=10),
        **described(
            "Only users having every one of these skills (repeat the argument).", ["Docker"]
        ),
    )
    company = Text(
        validate=[validate.Length(min=1, max=100), TEXT],
        **described("Only users who worked for this company (exact name).", "Company A"),
    )
    min_years = QueryInteger(
        validate=validate.Range(min=0, max=80),
        **described("Only users with at least this many years of experience.", 3),
    )
    max_years = QueryInteger(
        validate=validate.Range(min=0, max=80),
        **described("Only users with at most this many years of experience.", 10),
    )
    q = Text(
        validate=[validate.Length(min=1, max=100), TEXT],
        **described("Case-insensitive substring of the name or the email, taken literally.", "pri"),
    )
    created_after = QueryDateTime(
        **described(
            "Only users created strictly after this instant (RFC 3339).", "2024-01-01T00:00:00Z"
        ),
    )
    created_before = QueryDateTime(
        **described(
            "Only users created strictly before this instant (RFC 3339).", "2025-01-01T00:00:00Z"
        ),
    )
    sort = ma.fields.String(
        validate=validate.OneOf(SORT_KEYS),
        metadata={
            "description": "Sort key (default `created_at`); a leading `-` sorts in descending "
            "order. With `cursor`, the cursor's own sort applies.",
            "example": "-created_at",
            # Member names for generated SDKs, which cannot derive one from "-name".
            "x-enum-varnames": [
                key.upper().replace("-", "") + ("_DESC" if key[0] == "-" else "")
                for key in SORT_KEYS
            ],
        },
    )
    # The query parameter is `fields` (sparse fieldsets). marshmallow takes declared fields
    # off the class, so this does not replace Schema.fields, whatever the type checker sees.
    fields = DelimitedList(  # type: ignore[assignment]
        ma.fields.String(
            validate=validate.OneOf(USER_FIELDS), **described("A field name.", "name")
        ),
        **described("Comma-separated fields to return (`id` always is).", ["name", "email"]),
    )
    include_total = QueryBoolean(
        load_default=True,
        **described("Count the matching users (`total`); false saves a query.", True),
    )
    # No default in the spec: Swagger UI would send it with every list.
    deleted = QueryBoolean(
        **described(
            "`true` lists the trash instead: users deleted less than TRASH_TTL_SECONDS ago, "
            "which `restoreUser` brings back.",
            False,
        ),
    )


class LegacyListQuerySchema(ma.Schema):
    """Paging of the course service's bare user list."""

    page = page_number(load_default=1)
    page_size = QueryInteger(
        validate=validate.Range(min=1),
        **described("Users per page (default and cap: MAX_PAGE_SIZE, 100).", 100),
    )


class ListedUserSchema(UserSchema):
    """A user in a list: every field, or only `id` and those chosen with `fields`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)  # partial: the spec requires no field


class UserPageSchema(ma.Schema):
    """One page of users, in the order asked for, with where the next page starts."""

    items = listed(ListedUserSchema, "The users of this page, at most `page_size`.", [USER_EXAMPLE])
    page = ma.fields.Integer(**described("This page's number; absent when paging by cursor.", 1))
    page_size = ma.fields.Integer(required=True, **described("Users per page, after capping.", 20))
    total = ma.fields.Integer(
        **described(
            "Users matching the filters, on every page; absent with include_total=false.", 57
        )
    )
    next_cursor = ma.fields.String(
        required=True,
        allow_none=True,
        **described(
            "Pass as `cursor` for the next page; null on the last page.",
            "eyJzb3J0IjoiY3JlYXRlZF9hdCJ9",
        ),
    )


class ItemToValidate(ma.fields.Nested):
    """Documented as the nested schema, but only checked to be an object on loading: the view
    validates each item itself, so that one invalid item does not fail a whole batch."""

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(value, dict):
            raise ma.ValidationError("Not an object.")
        return value


class UserBatchSchema(ma.Schema):
    """Users to create in one request."""

    items = ma.fields.List(
        ItemToValidate(UserInputSchema),
        required=True,
        validate=validate.Length(min=1),
        **described(
            "Users to create, 1 to MAX_BATCH_ITEMS (100).",
            [{"name": "Priyanshu", "email": "priyanshu@example.com", "role": "DevOps Engineer"}],
        ),
    )


class UserBatchItemResultSchema(ma.Schema):
    """What became of one item of a batch."""

    index = ma.fields.Integer(required=True, **described("Position of the item in the request.", 0))
    status = ma.fields.Integer(
        required=True,
        **described(
            "What a single createUser would have answered: 201 created, 409 email taken, "
            "422 invalid.",
            201,
        ),
    )
    user = ma.fields.Nested(UserSchema, **described("The created user (status 201).", USER_EXAMPLE))
    problem = ma.fields.Nested(
        "ProblemSchema",
        **described(
            "Why the item was not created (status 409 or 422).",
            {
                "type": "about:blank",
                "title": "Conflict",
                "status": 409,
                "detail": "Another user already has this email address.",
                "instance": "/api/v1/users/batch",
                "code": "email_taken",
            },
        ),
    )


class UserBatchResultSchema(ma.Schema):
    """One result per item of a batch, in the order of the request."""

    items = listed(
        UserBatchItemResultSchema,
        "One result per item.",
        [{"index": 0, "status": 201, "user": USER_EXAMPLE}],
    )
    created = ma.fields.Integer(required=True, **described("Users created.", 1))
    failed = ma.fields.Integer(required=True, **described("Items not created.", 0))


class StatusSchema(ma.Schema):
    """The answer of a health probe."""

    status = ma.fields.String(
        required=True,
        **described("Always `ok` (failures are problem details).", "ok"),
    )


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details: the body of every error response."""

    type = ma.fields.String(
        required=True,
        **described("Always `about:blank`: `code` tells problems apart.", "about:blank"),
    )
    title = ma.fields.String(
        required=True,
        **described("The status's reason phrase, as RFC 9110 words it.", "Not Found"),
    )
    status = ma.fields.Integer(required=True, **described("The HTTP status code.", 404))
    detail = ma.fields.String(
        required=True,
        **described(
            "What went wrong, in a sentence for people.",
            "No user with id 6566f0c4e1b2c3d4e5f60718.",
        ),
    )
    instance = ma.fields.String(
        required=True,
        **described("The request path.", "/api/v1/users/6566f0c4e1b2c3d4e5f60718"),
    )
    code = ma.fields.String(
        required=True,
        **described("Stable, machine-readable error code.", "not_found"),
    )
    request_id = ma.fields.String(
        **described(
            "The request's X-Request-ID: quote it when reporting a problem.",
            "6f1c2a9e0b5d4c3e8a7f6e5d4c3b2a19",
        )
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        **described(
            "Validation messages by field (dotted path for nested fields).",
            {"email": ["Not a valid email address."]},
        ),
    )


def schema_name(schema: type[ma.Schema] | ma.Schema) -> str:
    """Component name in the spec: `UserSchema` -> `User`."""
    schema_class = schema if isinstance(schema, type) else type(schema)
    return schema_class.__name__.removesuffix("Schema")
