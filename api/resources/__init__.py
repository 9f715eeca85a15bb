"""What every resource module shares: the Blueprint class, path converters, the store."""

import functools
import http
from collections.abc import Callable
from typing import Any, TypeVar

import flask
import flask_smorest
import marshmallow as ma
from flask_smorest.utils import (
    resolve_schema_instance,
    set_status_and_headers_in_response,
    unpack_tuple_response,
)
from marshmallow.utils import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter

from api import inputs
from api.db import Store
from api.dumping import compile_dump
from api.errors import ApiError
from api.schemas import TEXT

F = TypeVar("F", bound=Callable[..., Any])


class ArgumentsParser(FlaskParser):
    """webargs' parser, with three changes.

    Unknown query parameters are refused like unknown body fields (webargs drops them), so a
    typo such as `?rol=DevOps` is a 422 rather than an unfiltered list. Bodies are parsed by
    api/inputs.py: strict JSON within limits, and a body that is not JSON (400) is told apart
    from one that fails the schema (422). The query string is read into a plain dict, with
    what webargs' MultiDictProxy would give for each argument present: it found its schema's
    repeatable fields again on every request, and answered every field's lookup itself.
    """

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        repeatable = self._repeatable(schema)
        args = req.args
        return {key: args.getlist(key) if key in repeatable else args[key] for key in args}

    @functools.cache  # noqa: B019 - one parser per process; schemas are made once (arguments)
    def _repeatable(self, schema: ma.Schema) -> frozenset[str]:
        return frozenset(self._makeproxy({}, schema).multiple_keys)

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,  # None: the schema decides, and ours raise
        "querystring": None,
    }

    def load_json(self, req: flask.Request, schema: ma.Schema) -> Any:
        if not is_json_request(req):
            return missing
        body = req.get_data(cache=True)
        # An empty body is no body: the schema then names the required fields.
        return inputs.load_json(body) if body else missing


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ArgumentsParser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's arguments; a JSON body must also come as JSON (415 otherwise).

        webargs reads a body of another media type as no body at all, which would give a
        misleading 422 about missing fields.
        """
        # An instance, made once: given a class, webargs would build a schema per request.
        parse = super().arguments(resolve_schema_instance(schema), location=location, **kwargs)
        if location != "json":
            return parse

        def decorator(func: F) -> F:
            parsed = parse(func)

            @functools.wraps(parsed)
            def wrapper(*args: Any, **kw: Any) -> Any:
                if not flask.request.is_json:
                    raise ApiError(
                        415,
                        "unsupported_media_type",
                        "Send the request body as JSON, with Content-Type: application/json.",
                    )
                return parsed(*args, **kw)

            return wrapper  # type: ignore[return-value]

        return decorator

    def response(
        self, status_code: int | str, schema: Any = None, **kwargs: Any
    ) -> Callable[[F], F]:
        """flask-smorest's response: the same documentation, a cheaper body.

        The view's result is dumped by a function compiled from the schema once
        (api/dumping.py) instead of by `schema.dump()` on every request, and written as JSON
        by the app's provider (orjson). A view returning a Response, or a (body, status,
        headers) tuple, is answered as flask-smorest would.
        """
        document = super().response(status_code, schema, **kwargs)
        instance = resolve_schema_instance(schema)
        dump = compile_dump(instance) if instance is not None else None

        def decorator(func: F) -> F:
            @functools.wraps(func)
            def wrapper(*args: Any, **kw: Any) -> Any:
                result, status, headers = unpack_tuple_response(
                    flask.current_app.ensure_sync(func)(*args, **kw)
                )
                if isinstance(result, flask.Response):
                    set_status_and_headers_in_response(result, status, headers)
                    return result
                response = flask.current_app.json.response(result if dump is None else dump(result))
                set_status_and_headers_in_response(response, status, headers)
                if status is None:
                    response.status_code = int(status_code)
                return response

            wrapper._apidoc = document(func)._apidoc  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]

        return decorator

    def alt_response(self, status_code: int | str, **kwargs: Any) -> Callable[[F], F]:
        """Document another response of the view, without wrapping it.

        flask-smorest's alt_response wraps the view in one more layer per status, which does
        nothing at run time but cost every request. Here the documentation flask-smorest
        builds is kept and its wrapper dropped: the spec is unchanged, the view is not wrapped.
        """
        document = super().alt_response(status_code, **kwargs)

        def decorator(func: F) -> F:
            func._apidoc = document(func)._apidoc  # type: ignore[attr-defined]
            return func

        return decorator

    def errors(self, *statuses: int) -> Callable[[F], F]:
        """Document that the view can answer these error statuses (problem details)."""

        def decorator(func: F) -> F:
            for status in statuses:
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func

        return decorator


class ObjectIdConverter(BaseConverter):
    """A MongoDB ObjectId in a path: anything else does not match the route, so it is a 404."""

    regex = "[0-9a-fA-F]{24}"

    def to_python(self, value: str) -> str:
        return value.lower()


class SkillConverter(BaseConverter):
    """A skill in a path: one segment of at most 100 characters (longer ones do not match)."""

    regex = "[^/]{1,100}"


def skill_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    # What an item of `skills` accepts, so the path and the body agree on what a skill is.
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "pattern": TEXT.regex.pattern,
        "example": "Docker",
    }


def objectid_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": "^[0-9a-fA-F]{24}$", "example": "6566f0c4e1b2c3d4e5f60718"}


def current_store() -> Store:
    """The store of the app handling the current request."""
    return flask.current_app.extensions["store"]
