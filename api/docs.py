"""The published contract: the OpenAPI document in two versions, and the pages that show it.

flask-smorest generates OpenAPI 3.1.0 from the views (the `Api` of create_app). Many SDK
generators still read 3.0 only, so a second, document-only Api generates 3.0.3 from the same
blueprints (`spec.mirror`): apispec writes each version's own dialect, so neither document is
converted from the other. Both are committed in openapi/ (`write_documents`, what
`python -m api export-openapi` runs) and served, with two pages that render them:

    /openapi.json       /openapi.yaml           OpenAPI 3.1.0
    /openapi-3.0.json   /openapi-3.0.yaml       OpenAPI 3.0.3
    /docs               Swagger UI; "Try it out" sends requests to this server
    /redoc              ReDoc
    /                   redirects to /docs

Every page and asset comes from this process (Swagger UI from the flask-swagger-ui package,
ReDoc from api/static/redoc, vendored from npm): the docs work with no internet access, and
nothing they load comes from anywhere else.
"""

import json
from pathlib import Path
from typing import Any

import flask
import flask_swagger_ui
import werkzeug
import yaml

from api import spec
from api.spec import Api

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


def init_app(app: flask.Flask, api: Api) -> None:
    """Publish `api`'s document in every version of DOCUMENTS, and the docs pages.

    Call it after the last blueprint is registered: the other versions copy what is there.
    With OPENAPI_SERVER_URL set, that URL is the one server the documents name; else, with
    ROOT_PATH, the server publishing them is named by that path.
    """
    if app.config["OPENAPI_SERVER_URL"]:
        api.spec.options["servers"] = [
            {"url": app.config["OPENAPI_SERVER_URL"], "description": "This deployment"}
        ]
    elif app.config["ROOT_PATH"]:
        publisher, *others = api.spec.options["servers"]
        api.spec.options["servers"] = [{**publisher, "url": app.config["ROOT_PATH"]}, *others]
    apis = {
        stem: api if version == MAIN_OPENAPI_VERSION else spec.mirror(app, api, version)
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
def home() -> werkzeug.Response:
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
