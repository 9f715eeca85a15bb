"""The users directory API: `create_app` is the only place where the parts are wired."""

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from api import db, docs, errors, health, observability, pipeline
from api.config import check_config, load_config
from api.db import Store
from api.observability import Metrics
from api.resources import (
    ObjectIdConverter,
    SkillConverter,
    insights,
    legacy,
    objectid_parameter_schema,
    skill_parameter_schema,
    users,
    versions,
)
from api.serving import App, AsgiApp
from api.spec import Api, SchemaPlugin

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
        APPLICATION_ROOT=settings["ROOT_PATH"] or "/",
        API_TITLE="Users API",
        API_VERSION=__version__,
        OPENAPI_VERSION=docs.MAIN_OPENAPI_VERSION,
        API_SPEC_OPTIONS=docs.SPEC_OPTIONS,
    )
    # Keep the schema's field order. (app.json is the App's JsonProvider, a
    # DefaultJSONProvider, which has sort_keys; Flask types it as the base JSONProvider.)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = Metrics()
    store = Store.from_config(
        settings,
        observe_command=metrics.observe_command,
        observe_operation=observability.add_storage_time,
    )
    db.init_app(app, store)

    app.url_map.converters["objectid"] = ObjectIdConverter
    app.url_map.converters["skill"] = SkillConverter
    app.url_map.converters["version"] = versions.VersionConverter
    api = Api(app, spec_kwargs={"marshmallow_plugin": SchemaPlugin()})
    api.register_converter(ObjectIdConverter, objectid_parameter_schema)
    api.register_converter(SkillConverter, skill_parameter_schema)
    api.register_converter(versions.VersionConverter, versions.version_parameter_schema)
    errors.init_app(app)
    pipeline.init_app(app, api, metrics)  # before the blueprints, which its steps document
    api.register_blueprint(users.blp)
    api.register_blueprint(versions.blp)
    api.register_blueprint(insights.blp)
    api.register_blueprint(health.blp)
    api.register_blueprint(legacy.blp)
    api.register_blueprint(observability.blp)
    docs.init_app(app, api)  # last: it documents every blueprint registered above
    return app


def create_asgi_app(config: Mapping[str, Any] | None = None) -> AsgiApp:
    """The ASGI application Hypercorn serves (`python -m api`)."""
    return AsgiApp(create_app(config))
