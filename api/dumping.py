"""Response bodies from marshmallow schemas, without marshmallow's per-object machinery.

`schema.dump()` costs about 40 us a user (600 us for a page of 20), most of it in the generic
walk (attribute getters, processors, error collection) rather than in the fields' own
conversions. `compile_dump(schema)` walks the schema once, when a view is decorated, and
returns a function that produces exactly what `schema.dump()` does for the schemas of this API:
each field's own `_serialize` converts its value, `List` and `Nested` are compiled the same way,
and a field the object lacks is left out (or takes its `dump_default`).

What it does not compile, it hands to marshmallow whole: a schema with pre_dump or post_dump
hooks, or with a field that reads more of the object than its own value (`Method`, `Function`,
a dotted `attribute`). tests/test_dumping.py compares both on every response schema.
"""

from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma

Dump = Callable[[Any], Any]


def compile_dump(schema: ma.Schema) -> Dump:
    """A function equal to `schema.dump` for one object (or a list, with `many`)."""
    one = _compile_schema(schema)
    if schema.many:
        return lambda objects: None if objects is None else [one(item) for item in objects]
    return one


def _compile_schema(schema: ma.Schema) -> Dump:
    if not _compilable(schema):
        return lambda obj: schema.dump(obj, many=False)
    plan = [
        (
            field.data_key or name,
            field.attribute or name,
            field,
            _unchanged(field),
            _compile_field(field),
        )
        for name, field in schema.dump_fields.items()
    ]

    def dump(obj: Any) -> dict[str, Any]:
        if not isinstance(obj, Mapping):
            dumped: dict[str, Any] = schema.dump(obj, many=False)
            return dumped
        result: dict[str, Any] = {}
        for key, attribute, field, unchanged, convert in plan:
            value = obj.get(attribute, ma.missing)
            if value is ma.missing:
                default = field.dump_default
                if default is ma.missing:
                    continue
                value = default() if callable(default) else default
            if type(value) not in unchanged:
                value = convert(value)
                if value is ma.missing:  # what marshmallow leaves out too
                    continue
            result[key] = value
        return result

    return dump


def _compilable(schema: ma.Schema) -> bool:
    hooks = schema._hooks[ma.decorators.PRE_DUMP] or schema._hooks[ma.decorators.POST_DUMP]
    return not hooks and all(
        field._CHECK_ATTRIBUTE and "." not in (field.attribute or "")
        for field in schema.dump_fields.values()
    )


# Values whose dump is the value itself: fields that keep them as they are (Boolean, Raw), a
# String given a str, an Integer given an int. The field's own conversion handles the rest.
ANY_TYPE: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _unchanged(field: ma.fields.Field[Any]) -> frozenset[type]:
    method = type(field)._serialize
    if method is ma.fields.Field._serialize:
        return ANY_TYPE
    if method is ma.fields.String._serialize:
        return frozenset({str, type(None)})
    if (
        isinstance(field, ma.fields.Number)
        and method is ma.fields.Number._serialize
        and field.num_type is int
        and not field.as_string
    ):
        return frozenset({int, type(None)})
    return frozenset({type(None)}) if _none_is_none(field) else frozenset()


def _none_is_none(field: ma.fields.Field[Any]) -> bool:
    # Every field of marshmallow dumps None as None; a field of ours may decide otherwise.
    return type(field).__module__.startswith("marshmallow.")


def _compile_field(field: ma.fields.Field[Any]) -> Dump:
    if isinstance(field, ma.fields.Nested):
        nested = field.schema
        one = _compile_schema(nested)
        if nested.many or field.many:
            return lambda value: None if value is None else [one(item) for item in value]
        return lambda value: None if value is None else one(value)
    if isinstance(field, ma.fields.List):
        inner, kept = _compile_field(field.inner), _unchanged(field.inner)
        return lambda value: (
            None
            if value is None
            else [item if type(item) in kept else inner(item) for item in value]
        )
    serialize, name = field._serialize, field.name
    return lambda value: serialize(value, name, None)
