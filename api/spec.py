"""The OpenAPI machinery: how flask-smorest and apispec are made to write our contract.

- `Api`: flask-smorest's, documenting every error status as problem details (from the
  registry of api/problems.py) and answering HTTPExceptions through api/errors.py.
- `OperationDocs`: an apispec plugin through which the parts of the app that act on many
  operations at once (API keys, rate limits, input limits) document each one they apply to.
- `Blueprint`: flask-smorest's, with strict JSON bodies, cheaper responses and `errors()`; its
  tag's description is the first paragraph of its module's docstring.
- `SchemaPlugin`: apispec's marshmallow plugin, with our component names and examples that
  Swagger UI does not submit.
- `mirror`: the same blueprints documented in OpenAPI 3.0 by a document-only Api.

Every use of flask-smorest's private API is here, and they are what pins it below 0.48:
`Api._register_responses`, `Api._register_pagination_header`, `Api._register_error_handlers`,
`Api._fields`, `Api._converters`, `Blueprint.register_views_in_doc`, the view's `_apidoc`, the
`blp_name_to_api` extension state, and `flask_smorest.utils` (prepare_response,
resolve_schema_instance, set_status_and_headers_in_response, unpack_tuple_response).
"""

import functools
import http
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import flask
import flask_smorest
import marshmallow as ma
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask_smorest.utils import (
    prepare_response,
    resolve_schema_instance,
    set_status_and_headers_in_response,
    unpack_tuple_response,
)
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from api import errors, input_limits, problems
from api.dumping import compile_dump
from api.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS, title
from api.schemas import ProblemSchema, schema_name

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

EXAMPLE_INSTANCE = "/api/v1/users/6566f0c4e1b2c3d4e5f60718"


def header(description: str, example: Any, schema_type: str = "string") -> dict[str, Any]:
    """A documented header: its description and an example value."""
    return {"description": description, "schema": {"type": schema_type, "example": example}}


RETRY_AFTER = header("Seconds to wait before retrying.", RETRY_AFTER_SECONDS, "integer")
# Sent by api/ratelimit.py on every response of a rate-limited operation; components of the
# spec, which responses name (RATE_LIMIT_HEADER_REFS).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": header("Requests allowed in the window (RATE_LIMIT).", 600, "integer"),
    "RateLimit-Remaining": header("Requests left in the current window.", 599, "integer"),
    "RateLimit-Reset": header("Seconds until the window frees a request.", 60, "integer"),
    "RateLimit-Policy": header("The limit and its window in seconds.", "600;w=60"),
}
RATE_LIMIT_HEADER_REFS = {name: name for name in RATE_LIMIT_HEADERS}
# Headers of an error response besides the rate-limit ones, by status.
ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": header(
            "The challenge: which header carries the key.",
            'ApiKey realm="users-api", header="X-API-Key"',
        )
    },
    405: {"Allow": header("The methods this path supports.", "GET, HEAD, OPTIONS")},
    408: {"Connection": header("`close`: the server closes the connection.", "close")},
    409: {
        "Retry-After": header(
            "With `idempotency_key_in_use` only: seconds to wait before retrying.", 1, "integer"
        )
    },
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
# Refused before the rate limiter counts the request (api/input_limits.py, api/serving.py), so
# without its headers.
UNCOUNTED = frozenset({408, 414})


def documented_response(status: int, description: str) -> dict[str, Any]:
    """The spec's response for an error status: problem+json, described by the problems of
    that status (api/problems.py) with the first one as the example."""
    response: dict[str, Any] = {"description": description, "schema": ProblemSchema}
    known = problems.of_status(status)
    if known:
        example = known[0]
        response["description"] = problems.description(status)
        response["example"] = {
            "type": "about:blank",
            "title": title(status),
            "status": int(status),  # not an HTTPStatus, which YAML cannot write
            "detail": example.example_detail,
            "instance": EXAMPLE_INSTANCE,
            "code": example.code,
        }
        shown_errors = example.example_errors or example.errors
        if shown_errors:
            response["example"]["errors"] = shown_errors
    headers: dict[str, Any] = {**ERROR_HEADERS.get(status, {})}
    if status not in UNCOUNTED:
        headers.update(RATE_LIMIT_HEADER_REFS)
    response["headers"] = headers
    return response


def add_error_responses(operation: dict[str, Any], *statuses: int) -> None:
    """Document that `operation` can answer these error statuses (problem details)."""
    responses: dict[str, Any] = {
        str(code): response for code, response in operation["responses"].items()
    }
    responses.update({str(status): http.HTTPStatus(status).name for status in statuses})
    operation["responses"] = dict(
        sorted(responses.items(), key=lambda item: (item[0] == "default", item[0]))
    )


OperationDocumenter = Callable[[str, str, dict[str, Any]], None]


class OperationDocs(BasePlugin):
    """Lets the parts of the app that act on many operations at once (API keys, rate limits,
    input limits) document each operation they apply to.

    A documenter is called with the blueprint name, the HTTP method and the operation, and
    decides by the same rule that guards the requests, so a new route is documented as it is
    guarded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.documenters: list[OperationDocumenter] = []

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule = kwargs.get("rule")
        if rule is None or operations is None:
            return
        blueprint = rule.endpoint.partition(".")[0]
        for method, operation in operations.items():
            for document in self.documenters:
                document(blueprint, method.upper(), operation)

    def document_everywhere(self, *statuses: int) -> None:
        """Document these error statuses on every operation."""

        def document(_blueprint: str, _method: str, operation: dict[str, Any]) -> None:
            add_error_responses(operation, *statuses)

        self.documenters.append(document)


def _document_body_timeout(_blueprint: str, _method: str, operation: dict[str, Any]) -> None:
    # The server answers 408 to a request whose body does not arrive in time (api/serving.py).
    if "requestBody" in operation:
        add_error_responses(operation, 408)


class Api(flask_smorest.Api):  # type: ignore[misc]  # flask-smorest is untyped: its base is Any
    """flask-smorest's Api, answering and documenting every error as problem details."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: flask.Flask, *, spec_kwargs: dict[str, Any], **kwargs: Any) -> None:
        self.operation_docs = OperationDocs()
        # Routing answers 405 with Allow to a method the path lacks, on every path.
        self.operation_docs.document_everywhere(405)
        self.operation_docs.documenters.append(_document_body_timeout)
        plugins = [*spec_kwargs.get("extra_plugins", ()), self.operation_docs]
        super().__init__(app, spec_kwargs={**spec_kwargs, "extra_plugins": plugins}, **kwargs)

    def _register_responses(self) -> None:
        # flask-smorest documents error responses as application/json; ours are problem+json.
        responses = {
            status.name: documented_response(status, f"{title(status)}.")
            for status in http.HTTPStatus
            if status >= 400
        }
        responses[self.DEFAULT_ERROR_RESPONSE_NAME] = {
            **documented_response(500, ""),
            "description": "Any other error; a 500 is a bug.",
        }
        for name, header_doc in RATE_LIMIT_HEADERS.items():
            self.spec.components.header(name, header_doc, lazy=True)
        for name, response in responses.items():
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(name, response, lazy=True)

    def _register_pagination_header(self) -> None:
        # Our pages are an envelope with Link headers, not flask-smorest's X-Pagination header,
        # whose registration would publish an unused PaginationMetadata schema.
        pass

    def handle_http_exception(self, error: HTTPException) -> flask.Response:
        return errors.http_exception_response(error)


class ArgumentsParser(FlaskParser):
    """webargs' parser, with three changes.

    Unknown query parameters are refused like unknown body fields (webargs drops them), so a
    typo such as `?rol=DevOps` is a 422 rather than an unfiltered list. Bodies are parsed by
    api/input_limits.py: strict JSON within limits, and a body that is not JSON (400) is told
    apart from one that fails the schema (422). The query string is read into a plain dict,
    with what webargs' MultiDictProxy would give for each argument present: it found its
    schema's repeatable fields again on every request, and answered every field's lookup itself.
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
            return ma.missing
        body = req.get_data(cache=True)
        # An empty body is no body: the schema then names the required fields.
        return input_limits.load_json(body) if body else ma.missing


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # untyped base, as for Api
    ARGUMENTS_PARSER = ArgumentsParser()

    def __init__(self, name: str, import_name: str, **options: Any) -> None:
        """Declared in a module of views: the first paragraph of that module's docstring
        describes the blueprint's tag in the spec, so the two cannot drift apart."""
        docstring = sys.modules[import_name].__doc__ or ""
        summary = " ".join(docstring.split("\n\n", 1)[0].split())
        super().__init__(name, import_name, description=summary, **options)

    if TYPE_CHECKING:
        # What the decorators of the untyped base (flask-smorest's, and Flask's through it)
        # return, so that the views they decorate keep their types.
        def route(self, rule: str, **options: Any) -> Callable[[C], C]: ...
        def doc(self, **kwargs: Any) -> Callable[[F], F]: ...
        def after_request(self, f: F) -> F: ...

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[F], F]:
        """flask-smorest's arguments; a JSON body must also come as JSON (415 otherwise).

        webargs reads a body of another media type as no body at all, which would give a
        misleading 422 about missing fields.
        """
        # An instance, made once: given a class, webargs would build a schema per request.
        parse = super().arguments(resolve_schema_instance(schema), location=location, **kwargs)
        if location != "json":
            return parse  # type: ignore[no-any-return]  # flask-smorest's decorator is untyped

        def decorator(func: F) -> F:
            parsed = parse(func)

            @functools.wraps(parsed)
            def wrapper(*args: Any, **kw: Any) -> Any:
                if not flask.request.is_json:
                    raise problems.UNSUPPORTED_MEDIA_TYPE.error()
                return parsed(*args, **kw)

            return wrapper  # type: ignore[return-value]  # wraps keeps the signature: still an F

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

            # flask-smorest reads a view's documentation from this attribute of the function.
            wrapper._apidoc = document(func)._apidoc  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]  # wraps keeps the signature: still an F

        return decorator

    def alt_response(self, status_code: int | str, **kwargs: Any) -> Callable[[F], F]:
        """Document another response of the view, without wrapping it.

        flask-smorest's alt_response wraps the view in one more layer per status, which does
        nothing at run time but cost every request. Here the documentation flask-smorest
        builds is kept and its wrapper dropped: the spec is unchanged, the view is not wrapped.
        """
        document = super().alt_response(status_code, **kwargs)

        def decorator(func: F) -> F:
            # flask-smorest reads a view's documentation from this attribute of the function.
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


class _Converter(OpenAPIConverter):
    def schema2jsonschema(self, schema: ma.Schema | type[ma.Schema]) -> dict[str, Any]:
        # Not Meta.description: with it, apispec 6.10 leaves out `additionalProperties: false`.
        # apispec leaves this method unannotated (untyped_calls_exclude misses super() calls).
        jsonschema: dict[str, Any] = super().schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        schema_class = schema if isinstance(schema, type) else type(schema)
        if schema_class.__doc__:
            jsonschema["description"] = inspect.cleandoc(schema_class.__doc__)
        return jsonschema


class SchemaPlugin(MarshmallowPlugin):
    """apispec's marshmallow plugin: components named by `schema_name` and described by their
    docstring, and no `default` in a partial schema (PATCH), where a field left out keeps its
    value rather than taking one."""

    Converter = _Converter

    def __init__(self) -> None:
        super().__init__(schema_name_resolver=schema_name)

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.openapi_3_0 = spec.openapi_version.major == 3 and spec.openapi_version.minor == 0
        assert self.converter is not None  # made by MarshmallowPlugin.init_spec
        self.converter.add_attribute_function(_no_default_when_partial)
        if self.openapi_3_0:
            self.converter.add_attribute_function(_nullable_reference_in_3_0)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().operation_helper(path, operations, **kwargs)
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", []):
                if isinstance(parameter, dict):
                    self._example_not_input(parameter)

    def _example_not_input(self, parameter: dict[str, Any]) -> None:
        # Swagger UI's "Try it out" fills each parameter with its `example` (of the parameter
        # or of its schema, in 3.0 and 3.1 alike) and sends it: an optional filter or
        # condition would then be in every request. Its example moves where no input value is
        # taken from: JSON Schema's `examples` in 3.1; in 3.0, which has no such keyword,
        # `x-example` (Swagger UI shows it as the example).
        schema = parameter.get("schema", {})
        optional = not parameter.get("required") and parameter["in"] in {"query", "header"}
        if not optional or "example" not in schema:
            return
        # A new schema: the given one may be shared with other operations and documents.
        parameter["schema"] = {key: value for key, value in schema.items() if key != "example"}
        if self.openapi_3_0:
            parameter["x-example"] = schema["example"]
        else:
            parameter["schema"]["examples"] = [schema["example"]]


def _no_default_when_partial(
    _converter: OpenAPIConverter, field: ma.fields.Field[Any], ret: dict[str, Any], **_: Any
) -> dict[str, Any]:
    # Attribute functions can only add keys; this one removes what earlier ones added.
    if isinstance(field.parent, ma.Schema) and field.parent.partial:
        ret.pop("default", None)
    return {}


def _nullable_reference_in_3_0(
    _converter: OpenAPIConverter, _field: ma.fields.Field[Any], ret: dict[str, Any], **_: Any
) -> dict[str, Any]:
    # For a nullable nested schema, apispec writes anyOf [the schema, {type: object, nullable}]
    # in 3.0, and that second branch admits any object, unknown keys included. Restricted to
    # null, it says "this schema, or null". (`nullable` beside an `allOf` would not: null
    # fails the referenced schema, and `nullable` needs a `type` of its own.)
    alternatives = ret.get("anyOf", [])
    if len(alternatives) == 2 and alternatives[1] == {"type": "object", "nullable": True}:
        alternatives[1] = {**alternatives[1], "enum": [None]}
    return {}


class _DocumentOnlyApi(Api):
    """An Api that documents blueprints already served by another one: no error handlers."""

    def _register_error_handlers(self) -> None:
        pass  # the serving Api's handlers answer every request


def mirror(app: flask.Flask, source: Api, openapi_version: str) -> Api:
    """An Api documenting, in another OpenAPI version, every blueprint `source` registered.

    Path `parameters` given to `register_blueprint` are not carried over (none are given);
    tests/test_openapi.py compares the operations of both documents.
    """
    prefix = f"OPENAPI_{openapi_version.replace('.', '_')}"
    copy = _DocumentOnlyApi(
        app,
        config_prefix=prefix,
        spec_kwargs={
            "title": source.spec.title,
            "version": source.spec.version,
            "openapi_version": openapi_version,
            "marshmallow_plugin": SchemaPlugin(),
            **source.spec.options,
        },
    )
    # The same rules document both versions: which key, limit and input errors apply where.
    copy.operation_docs.documenters[:] = source.operation_docs.documenters
    for name, scheme in source.spec.components.security_schemes.items():
        copy.spec.components.security_scheme(name, scheme)
    for field_args in source._fields:
        copy.register_field(*field_args)
    for converter_args in source._converters:
        copy.register_converter(*converter_args)
    for name, owner in app.extensions["flask-smorest"]["blp_name_to_api"].items():
        if owner is source:
            blueprint: Any = app.blueprints[name]  # a flask-smorest Blueprint: untyped
            blueprint.register_views_in_doc(copy, app, copy.spec, name=name, parameters=None)
            copy.spec.tag({"name": name, "description": blueprint.description})
    return copy
