"""The published contract: the OpenAPI document in two versions, and the pages that show it.

flask-smorest generates OpenAPI 3.1.0 from the views (the `Api` of create_app). Many SDK
generators still read 3.0 only, so a second, document-only Api generates 3.0.3 from the same
blueprints: apispec writes each version's own dialect, so neither document is converted from the
other. Both are committed in openapi/ (`write_documents`, what `python -m api export-openapi`
runs) and served, with two pages that render them:

    /openapi.json       /openapi.yaml           OpenAPI 3.1.0
    /openapi-3.0.json   /openapi-3.0.yaml       OpenAPI 3.0.3
    /docs               Swagger UI; "Try it out" sends requests to this server
    /redoc              ReDoc
    /                   redirects to /docs

Every page and asset comes from this process (Swagger UI from the flask-swagger-ui package,
ReDoc from api/static/redoc, vendored from npm): the docs work with no internet access, and
nothing they load comes from anywhere else.
"""

import inspect
import json
from pathlib import Path
from typing import Any

import flask
import flask_swagger_ui
import marshmallow as ma
import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter

from api.errors import Api
from api.schemas import schema_name

SWAGGER_UI_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
STATIC = Path(__file__).parent / "static"
REDOC_ASSETS = STATIC / "redoc"

MAIN_OPENAPI_VERSION = "3.1.0"
# File stem (in openapi/ and in the URL) -> OpenAPI version.
DOCUMENTS = {"openapi": MAIN_OPENAPI_VERSION, "openapi-3.0": "3.0.3"}
MEDIA_TYPES = {"json": "application/json", "yaml": "application/yaml"}

DESCRIPTION = """\
A users directory on MongoDB: create, find, page through, update and delete users.

- **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable,
  machine-readable `code`; validation errors list the messages of each field in `errors`.
- **Safe writes**: every response carrying a user has an `ETag`; send it back in `If-Match`
  with PUT, PATCH or DELETE, and the write happens only if nobody changed the user meanwhile
  (412 otherwise).
- **Lists** are pages: `{"items", "page", "page_size", "total"}` plus RFC 8288 `Link` headers.
- **Text** fields, filters and path segments refuse control characters (NUL, new lines, C1),
  the line and paragraph separators and the bidirectional override, embedding and isolate
  controls; each carries this rule as its `pattern`.

This document is generated from the code, in two versions: OpenAPI 3.1 (`/openapi.json`,
`/openapi.yaml`) and OpenAPI 3.0 (`/openapi-3.0.json`, `/openapi-3.0.yaml`) for SDK generators
that read 3.0 only. Browse it with Swagger UI (`/docs`) or ReDoc (`/redoc`).
"""

SPEC_OPTIONS = {
    "info": {
        "description": DESCRIPTION,
        "contact": {"name": "Users API maintainers", "email": "users-api@example.com"},
        # A URL rather than 3.1's SPDX `identifier`: valid in both versions.
        "license": {"name": "MIT", "url": "https://opensource.org/license/mit"},
    },
    "servers": [
        {"url": "/", "description": "The server publishing this document"},
        {"url": "http://127.0.0.1:8000", "description": "Local development (./scripts/serve)"},
    ],
}

blp = flask.Blueprint("docs", __name__, template_folder="templates")


class _Converter(OpenAPIConverter):
    def schema2jsonschema(self, schema: ma.Schema | type[ma.Schema]) -> dict[str, Any]:
        # Not Meta.description: with it, apispec 6.10 leaves out `additionalProperties: false`.
        jsonschema = super().schema2jsonschema(schema)
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
    _converter: OpenAPIConverter, field: ma.fields.Field, ret: dict[str, Any], **_kwargs: Any
) -> dict[str, Any]:
    # Attribute functions can only add keys; this one removes what earlier ones added.
    if isinstance(field.parent, ma.Schema) and field.parent.partial:
        ret.pop("default", None)
    return {}


def _nullable_reference_in_3_0(
    _converter: OpenAPIConverter, _field: ma.fields.Field, ret: dict[str, Any], **_kwargs: Any
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


def _mirror(app: flask.Flask, source: Api, openapi_version: str) -> Api:
    """An Api documenting, in another OpenAPI version, every blueprint `source` registered.

    Path `parameters` given to `register_blueprint` are not carried over (none are given);
    tests/test_openapi.py compares the operations of both documents.
    """
    prefix = f"OPENAPI_{openapi_version.replace('.', '_')}"
    mirror = _DocumentOnlyApi(
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
    mirror.operation_docs.documenters[:] = source.operation_docs.documenters
    for name, scheme in source.spec.components.security_schemes.items():
        mirror.spec.components.security_scheme(name, scheme)
    for field_args in source._fields:
        mirror.register_field(*field_args)
    for converter_args in source._converters:
        mirror.register_converter(*converter_args)
    for name, owner in app.extensions["flask-smorest"]["blp_name_to_api"].items():
        if owner is source:
            blueprint = app.blueprints[name]
            blueprint.register_views_in_doc(mirror, app, mirror.spec, name=name, parameters=None)
            mirror.spec.tag({"name": name, "description": blueprint.description})
    return mirror


def init_app(app: flask.Flask, api: Api) -> None:
    """Publish `api`'s document in every version of DOCUMENTS, and the docs pages.

    Call it after the last blueprint is registered: the other versions copy what is there.
    With OPENAPI_SERVER_URL set, that URL is the one server the documents name.
    """
    if app.config["OPENAPI_SERVER_URL"]:
        api.spec.options["servers"] = [
            {"url": app.config["OPENAPI_SERVER_URL"], "description": "This deployment"}
        ]
    apis = {
        stem: api if version == MAIN_OPENAPI_VERSION else _mirror(app, api, version)
        for stem, version in DOCUMENTS.items()
    }
    app.extensions["docs"] = apis
    app.register_blueprint(blp)
    for name, folder, url in [
        ("swagger_ui_assets", SWAGGER_UI_ASSETS, "/docs/assets"),
        ("redoc_assets", REDOC_ASSETS, "/redoc/assets"),
    ]:
        app.register_blueprint(
            flask.Blueprint(name, __name__, static_folder=folder, static_url_path=url)
        )


def documents(app: flask.Flask) -> dict[str, dict[str, Any]]:
    """Every published OpenAPI document of `app`, by file stem (see DOCUMENTS)."""
    return {stem: api.spec.to_dict() for stem, api in app.extensions["docs"].items()}


def render(document: dict[str, Any], file_format: str) -> str:
    """The text of `document` as published: "json" or "yaml"."""
    if file_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def write_documents(app: flask.Flask, directory: Path) -> list[Path]:
    """Write every document of `app` in every format into `directory`; return the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, document in documents(app).items():
        for file_format in MEDIA_TYPES:
            path = directory / f"{stem}.{file_format}"
            path.write_text(render(document, file_format))
            written.append(path)
    return written


def spec_links() -> list[dict[str, str]]:
    """Label and URL of every published document, for the docs pages."""
    return [
        {
            "label": f"OpenAPI {DOCUMENTS[stem].rsplit('.', 1)[0]} {file_format.upper()}",
            "url": flask.url_for("docs.document", stem=stem, file_format=file_format),
        }
        for stem in DOCUMENTS
        for file_format in MEDIA_TYPES
    ]


@blp.get("/<any(openapi, 'openapi-3.0'):stem>.<any(json, yaml):file_format>")
def document(stem: str, file_format: str) -> flask.Response:
    text = render(flask.current_app.extensions["docs"][stem].spec.to_dict(), file_format)
    return flask.Response(text, mimetype=MEDIA_TYPES[file_format])


# The browser itself refuses to load anything from elsewhere: ReDoc's bundle, for one, shows
# a logo from its vendor's CDN in the side menu, and the menu works without it.
def page(template: str, **context: Any) -> flask.Response:
    response = flask.make_response(flask.render_template(template, links=spec_links(), **context))
    return response


@blp.get("/")
def home() -> flask.Response:
    """The API's root leads a person to its docs."""
    return flask.redirect(flask.url_for("docs.swagger_ui"))


@blp.get("/favicon.ico")
def favicon() -> flask.Response:
    # An SVG: browsers take the type from Content-Type, whatever the name says.
    return flask.send_from_directory(STATIC, "favicon.svg", mimetype="image/svg+xml")


@blp.get("/docs")
def swagger_ui() -> flask.Response:
    """Swagger UI, with a selector for each OpenAPI version (JSON documents)."""
    urls = [
        {
            "name": f"OpenAPI {version}",
            "url": flask.url_for("docs.document", stem=stem, file_format="json"),
        }
        for stem, version in DOCUMENTS.items()
    ]
    return page("docs/swagger_ui.html", urls=urls)


@blp.get("/redoc")
def redoc() -> flask.Response:
    """ReDoc, rendering the OpenAPI 3.1 document."""
    spec_url = flask.url_for("docs.document", stem="openapi", file_format="json")
    return page("docs/redoc.html", spec_url=spec_url)
