"""The users directory's web frontend: server-rendered pages over the API's HTTP contract.

A separate service from `api/` (it shares no code with it): it reaches the API at BACKEND_URL.
Every page, error pages included, is HTML with a CSP that allows this site's own styles and
images only and no framing, `nosniff`, a same-origin Referrer-Policy and no caching; the API's
failures are pages a person can read (502 or 503), with the reason in the log.
"""

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flask
import httpx
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from frontend import history, views
from frontend.client import ApiError, ApiProblem, BackendUnavailable, BadGateway, UsersClient
from frontend.config import load_config
from frontend.display import instant

log = logging.getLogger(__name__)

# The pages run no script and load nothing from elsewhere; no site may frame them.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    # Not no-referrer: over HTTPS, Flask-WTF checks that a form's Referer is this site.
    "Referrer-Policy": "same-origin",
}
# A user's form is about 11 KB at the contract's limits: anything much larger is refused (413)
# before it is parsed. (Werkzeug's MAX_FORM_MEMORY_SIZE bounds multipart forms only.)
MAX_FORM_BYTES = 65_536
CACHED_ENDPOINTS = frozenset({"static", "favicon"})  # everything else shows personal data
# What an HTTP error of the frontend's own means to a person, by status.
HTTP_ERRORS = {
    400: ("Bad request", "This site could not understand the request."),
    404: ("Not found", "There is no such page."),
    405: ("Not possible here", "This page cannot be used that way."),
    413: ("Too much to send", "What was sent is larger than this site accepts."),
}
KEY_WARNINGS = {
    "api_key_required": "the API requires an API key and API_KEY is not set",
    "api_key_invalid": "the API does not know the key in API_KEY",
    "insufficient_scope": "the key in API_KEY lacks the API's write scope",
}


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie (HttpOnly, SameSite=Lax) is Secure on every request served over
    HTTPS: directly, or behind a proxy trusted through TRUSTED_PROXY_HOPS."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return flask.request.is_secure or super().get_cookie_secure(app)


def create_app(
    config: Mapping[str, Any] | None = None, *, transport: httpx.BaseTransport | None = None
) -> flask.Flask:
    """Build the frontend. `config=None` reads the environment (frontend/config.py); a mapping
    overrides the defaults; `transport` replaces the network under the API client (tests)."""
    settings = load_config() if config is None else {**load_config({}), **config}
    app = flask.Flask(__name__)
    app.config.update(settings)
    app.config["SECRET_KEY"] = settings["FRONTEND_SECRET_KEY"]
    if not settings["FRONTEND_SECRET_KEY"]:
        log.warning(
            "FRONTEND_SECRET_KEY is not set: using a random key, so sessions and form tokens "
            "do not survive a restart. Set it in production."
        )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a form left open for hours still submits
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = _SessionInterface()
    if settings["TRUSTED_PROXY_HOPS"]:
        hops = settings["TRUSTED_PROXY_HOPS"]
        # Flask's documented way to put WSGI middleware in front of the app.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.extensions["users_client"] = UsersClient(
        settings["BACKEND_URL"],
        timeout=settings["BACKEND_TIMEOUT_SECONDS"],
        max_response_bytes=settings["BACKEND_MAX_RESPONSE_BYTES"],
        api_key=settings["API_KEY"],
        transport=transport,
    )
    CSRFProtect(app)
    app.url_map.converters["oid"] = views.ObjectIdConverter
    app.register_blueprint(views.bp)
    app.register_blueprint(history.bp)
    app.add_template_global(history.recent_history)
    app.jinja_env.globals["operation_names"] = history.OPERATION_NAMES
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    app.add_template_filter(instant)
    app.after_request(_security_headers)
    app.register_error_handler(BackendUnavailable, _backend_unavailable)
    app.register_error_handler(BadGateway, _bad_gateway)
    app.register_error_handler(ApiProblem, _api_problem)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _favicon() -> flask.Response:
    """Browsers ask for /favicon.ico whatever the page says: the same icon as the pages'."""
    return flask.send_from_directory(
        flask.current_app.static_folder or "", "favicon.svg", mimetype="image/svg+xml"
    )


def _security_headers(response: flask.Response) -> flask.Response:
    response.headers.update(SECURITY_HEADERS)
    if flask.request.endpoint not in CACHED_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(status: int, title: str, message: str, *, reference: str | None = None) -> flask.Response:
    html = flask.render_template("error.html", title=title, message=message, reference=reference)
    return flask.make_response(html, status)


def _backend_unavailable(error: BackendUnavailable) -> flask.Response:
    log.warning("the API is unavailable for %s %s: %s", *_request_line(), error)
    response = _page(
        503,
        "The directory is unavailable",
        "The users service is not answering right now. Please try again in a moment.",
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _bad_gateway(error: BadGateway) -> flask.Response:
    log.error("the API answered %s %s outside its contract: %s", *_request_line(), error)
    return _page(
        502,
        "The directory sent something unreadable",
        "The users service answered in a way this site cannot show. The failure was recorded; "
        "please try again later.",
    )


def _api_problem(error: ApiProblem) -> flask.Response:
    if error.status == 404:
        return _page(404, "Not found", "There is no such user (it may have been deleted).")
    if error.status in (401, 403):
        log.error("the API refused this frontend's key for %s %s: %s", *_request_line(), error)
        message = (
            "The users service did not allow this site to do that (its API key is missing or "
            "not enough). The failure was recorded."
        )
        return _page(502, "Not allowed", message, reference=error.request_id)
    log.warning("the API refused %s %s: %s", *_request_line(), error)
    message = error.detail or "The users service refused the request."
    return _page(502, "Request refused", message, reference=error.request_id)


def _request_line() -> tuple[str, str]:
    return flask.request.method, flask.request.path


def _csrf_error(_error: CSRFError) -> flask.Response:
    return _page(
        400, "Form expired", "The form was not sent from this site, or it expired. Reload it."
    )


def _http_error(error: HTTPException) -> flask.Response:
    status = error.code or 500
    title, message = HTTP_ERRORS.get(status, (error.name, "The request could not be served."))
    response = _page(status, title, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # Allow on a 405
    return response


def _check_write_access(app: flask.Flask) -> None:
    """Warn in the log, at start-up, when the API will refuse this frontend's writes."""
    try:
        access = app.extensions["users_client"].write_access()
    except ApiError as error:
        log.warning(
            "could not ask the API at %s whether it needs a key (%s); pages will say so if "
            "it refuses",
            app.config["BACKEND_URL"],
            error,
        )
        return
    if access in KEY_WARNINGS:
        log.warning(
            "%s: creating, editing and deleting users will fail (and reading too where the API "
            "requires keys for reads). Set API_KEY to a key with the write scope.",
            KEY_WARNINGS[access],
        )


def create_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """The WSGI application `python -m frontend` serves with Hypercorn, once it has checked
    that the API takes its key."""
    app = create_app()
    _check_write_access(app)
    return _with_start_response(app.wsgi_app)


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
