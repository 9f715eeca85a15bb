"""The users directory API: `create_app` is the only place where the parts are wired."""

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import flask

from api import docs, errors, health, inputs, limits, observability, security
from api.config import check_config, load_config
from api.db import Store
from api.errors import Api
from api.observability import Metrics
from api.resources import (
    ObjectIdConverter,
    SkillConverter,
    legacy,
    objectid_parameter_schema,
    skill_parameter_schema,
    users,
)
from api.serving import App, AsgiApp

__version__ = importlib.metadata.version("users-api")


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
        OPENAPI_VERSION=docs.MAIN_OPENAPI_VERSION,
        API_SPEC_OPTIONS=docs.SPEC_OPTIONS,
    )
    app.json.sort_keys = False  # keep the schema's field order
    metrics = Metrics()
    app.extensions["store"] = Store(
        uri=settings["MONGODB_URI"],
        database=settings["MONGODB_DB"],
        timeout_ms=settings["MONGODB_TIMEOUT_MS"],
        idempotency_ttl_seconds=settings["IDEMPOTENCY_TTL_SECONDS"],
        observe_command=metrics.observe_command,
    )
    observability.init_app(app, metrics)

    app.url_map.converters["objectid"] = ObjectIdConverter
    app.url_map.converters["skill"] = SkillConverter
    api = Api(app, spec_kwargs={"marshmallow_plugin": docs.SchemaPlugin()})
    api.register_converter(ObjectIdConverter, objectid_parameter_schema)
    api.register_converter(SkillConverter, skill_parameter_schema)
    errors.init_app(app)
    # In the order they check each request; before the blueprints, which they document.
    limits.init_app(app, api)
    inputs.init_app(app, api)
    security.init_app(app, api)
    api.register_blueprint(users.blp)
    api.register_blueprint(health.blp)
    api.register_blueprint(legacy.blp)
    api.register_blueprint(observability.blp)
    app.after_request(_drop_content_type_of_empty)
    docs.init_app(app, api)  # last: it documents every blueprint registered above
    return app


def _drop_content_type_of_empty(response: flask.Response) -> flask.Response:
    # 204 and 304 have no body, so a Content-Type would describe nothing.
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
    return response


def create_asgi_app(config: Mapping[str, Any] | None = None) -> AsgiApp:
    """The ASGI application Hypercorn serves (`python -m api`)."""
    return AsgiApp(create_app(config))
