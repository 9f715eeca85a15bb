"""What every resource module shares: the Blueprint class, path converters, the store."""

import functools
import http
from collections.abc import Callable
from typing import Any, TypeVar

import flask
import flask_smorest
import marshmallow as ma
from marshmallow.utils import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter

from api import inputs
from api.db import Store
from api.errors import ApiError
from api.schemas import TEXT

F = TypeVar("F", bound=Callable[..., Any])


class ArgumentsParser(FlaskParser):
    """webargs' parser, with two changes.

    Unknown query parameters are refused like unknown body fields (webargs drops them), so a
    typo such as `?rol=DevOps` is a 422 rather than an unfiltered list. Bodies are parsed by
    api/inputs.py: strict JSON within limits, and a body that is not JSON (400) is told apart
    from one that fails the schema (422).
    """

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
        parse = super().arguments(schema, location=location, **kwargs)
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
