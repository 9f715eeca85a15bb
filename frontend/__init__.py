"""The users directory's web frontend: server-rendered pages over the API's HTTP contract.

A separate service from `api/` (it shares no code with it): it reaches the API at BACKEND_URL.
"""

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flask
import httpx
from flask_wtf.csrf import CSRFError, CSRFProtect

from frontend import views
from frontend.client import ApiProblem, BackendUnavailable, UsersClient
from frontend.config import load_config

log = logging.getLogger(__name__)


def create_app(
    config: Mapping[str, Any] | None = None, *, transport: httpx.BaseTransport | None = None
) -> flask.Flask:
    """Build the frontend. `config=None` reads the environment; `transport` replaces the
    network under the API client (tests)."""
    settings = load_config() if config is None else {**load_config({}), **config}
    app = flask.Flask(__name__)
    app.config.update(settings)
    if not settings["SECRET_KEY"]:
        log.warning(
            "FRONTEND_SECRET_KEY is not set: using a random key, so sessions and form tokens "
            "do not survive a restart. Set it in production."
        )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a form left open for hours still submits
    app.extensions["users_client"] = UsersClient(
        settings["BACKEND_URL"],
        timeout=settings["BACKEND_TIMEOUT_SECONDS"],
        api_key=settings["API_KEY"],
        transport=transport,
    )
    CSRFProtect(app)
    app.register_blueprint(views.bp)
    app.register_error_handler(BackendUnavailable, _backend_unavailable)
    app.register_error_handler(ApiProblem, _api_problem)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(404, _not_found)
    return app


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    return flask.render_template("error.html", title=title, message=message), status


def _backend_unavailable(_error: BackendUnavailable) -> tuple[str, int]:
    log.warning("the API is unavailable: %s", _error)
    return _page(
        503,
        "The directory is unavailable",
        "The users service is not answering right now. Please try again in a moment.",
    )


def _api_problem(error: ApiProblem) -> tuple[str, int]:
    if error.status == 404:
        return _page(404, "Not found", "There is no such user (it may have been deleted).")
    if error.status in (401, 403):
        return _page(502, "Not allowed", "The users service refused this frontend's credentials.")
    return _page(502, "Request refused", error.detail or "The users service refused the request.")


def _csrf_error(_error: CSRFError) -> tuple[str, int]:
    return _page(
        400, "Form expired", "The form was not sent from this site, or it expired. Reload it."
    )


def _not_found(_error: Exception) -> tuple[str, int]:
    return _page(404, "Not found", "There is no such page.")


def create_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """The WSGI application `python -m frontend` serves with Hypercorn."""
    return _with_start_response(create_app().wsgi_app)


def _with_start_response(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Hypercorn 0.18.0's WSGI wrapper answers 500 for a response with no body (HEAD, a 304)
    because it starts the response only with the first body chunk (pgjones/hypercorn#331):
    always yield at least one, possibly empty, chunk."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunks = app(environ, start_response)
        try:
            sent = False
            for chunk in chunks:
                sent = True
                yield chunk
            if not sent:
                yield b""
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    return wrapped
