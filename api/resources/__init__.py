"""What every resource module shares: the Blueprint class, path converters, the store."""

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


def objectid_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": "^[0-9a-fA-F]{24}$", "example": "6566f0c4e1b2c3d4e5f60718"}


def current_store() -> Store:
    """The store of the app handling the current request."""
    return flask.current_app.extensions["store"]
