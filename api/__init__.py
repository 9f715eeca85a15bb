"""The users directory API: `create_app` is the only place where the parts are wired."""

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flask
import flask_swagger_ui
from apispec.ext.marshmallow import MarshmallowPlugin

from api import errors, health, inputs, limits, security
from api.config import check_config, load_config
from api.db import Store
from api.errors import Api
from api.resources import ObjectIdConverter, objectid_parameter_schema, users
from api.schemas import schema_name
from api.serving import App, AsgiApp

__version__ = importlib.metadata.version("users-api")

SWAGGER_UI_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"

DESCRIPTION = """\
A users directory on MongoDB. Errors are RFC 9457 problem details (`application/problem+json`)
with a stable `code`. Writes return an `ETag`; send it back in `If-Match` to update safely.
"""


def create_app(config: Mapping[str, Any] | None = None) -> App:
    """Build the Flask app.

    `config=None` reads the environment (api/config.py); a mapping overrides the defaults
    instead, and the environment is ignored, so tests do not depend on the shell they run in.
    Nothing connects here: the store opens on the serving loop (api/serving.py).
    """
    settings = load_config() if config is None else {**load_config({}), **config}
    check_config(settings)

    app = App(__name__)
    app.config.update(settings)
    app.config.update(
        # Flask reads FLASK_DEBUG from the environment, and debug mode lets exceptions escape
        # the error handlers: no setting may turn it on in the served app.
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        TRAP_BAD_REQUEST_ERRORS=False,
        MAX_CONTENT_LENGTH=settings["MAX_BODY_BYTES"],
        API_TITLE="Users API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/", "description": "This server"}],
        },
    )
    app.json.sort_keys = False  # keep the schema's field order
    app.extensions["store"] = Store(
        uri=settings["MONGODB_URI"],
        database=settings["MONGODB_DB"],
        timeout_ms=settings["MONGODB_TIMEOUT_MS"],
    )

    app.url_map.converters["objectid"] = ObjectIdConverter
    api = Api(
        app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}
    )
    api.register_converter(ObjectIdConverter, objectid_parameter_schema)
    errors.init_app(app)
    # In the order they check each request; before the blueprints, which they document.
    inputs.init_app(app, api)
    limits.init_app(app, api)
    security.init_app(app, api)
    api.register_blueprint(users.blp)
    api.register_blueprint(health.blp)
    app.after_request(_drop_content_type_of_empty)
    # Swagger UI from local files: these machines have no internet, and a CDN page is blank.
    app.register_blueprint(
        flask.Blueprint(
            "docs_assets",
            __name__,
            static_folder=SWAGGER_UI_ASSETS,
            static_url_path="/docs/assets",
        )
    )
    return app


def _drop_content_type_of_empty(response: flask.Response) -> flask.Response:
    # 204 and 304 have no body, so a Content-Type would describe nothing.
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
    return response


def create_asgi_app(config: Mapping[str, Any] | None = None) -> AsgiApp:
    """The ASGI application Hypercorn serves (`python -m api`)."""
    return AsgiApp(create_app(config))


def openapi_document(app: flask.Flask) -> dict[str, Any]:
    """The OpenAPI document flask-smorest generates for `app` (what openapi/ publishes)."""
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
