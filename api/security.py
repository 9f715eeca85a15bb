"""API keys, CORS and security headers.

API keys: who may read and who may write.

Keys come from API_KEYS as SHA-256 digests with scopes (`read`, `write`); the keys themselves
are never stored, logged or echoed. A client sends its key in the X-API-Key header. Writes
(every method but GET, HEAD and OPTIONS) need a key with the `write` scope; reads need one with
`read` only when API_KEYS_FOR_READS is set. Without any key configured the service is open, and
says so at start-up. Probes and docs never need a key, nor do CORS preflights (OPTIONS: browsers
send them without credentials).

    401 api_key_required     no X-API-Key where one is needed
    401 api_key_invalid      an X-API-Key that is no configured key (checked wherever sent)
    403 insufficient_scope   a valid key without the scope the method needs

CORS (flask-cors) answers only the origins in CORS_ORIGINS, and lets their scripts read the
headers the API's clients need (ETag, Location, Link, the rate-limit headers). Every response
says `nosniff` and is not stored by caches (user data is personal); API responses carry a CSP
that allows nothing at all, and the docs page one that allows its own files and the hashes of
its inline scripts and styles, computed from the page as served.
"""

import base64
import hashlib
import hmac
import logging
import re
import secrets
from typing import Any

import flask
import flask_cors

from api import history, problems
from api.config import ApiKey
from api.problems import ApiError
from api.spec import Api, add_error_responses

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
SCHEME = "ApiKey"
DOCS_BLUEPRINT = "docs"  # api/docs.py: the docs pages and the OpenAPI documents
# Blueprints anyone may call: probes, and the docs with their assets.
OPEN_BLUEPRINTS = frozenset({"health", DOCS_BLUEPRINT, "swagger_ui_assets", "redoc_assets"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": HEADER,
    "description": (
        "An API key given by the operator. Required for writes; required for reads too when "
        "the server is configured so (API_KEYS_FOR_READS)."
    ),
}


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_api_key() -> tuple[str, str]:
    """A new random key and the hex SHA-256 that API_KEYS holds for it.

    Never one that starts with `-`: command lines read it as an option (`loadtest --api-key
    -x...` fails as a missing argument). Drawing again when it does keeps 256 random bits but
    for a fraction of one.
    """
    key = secrets.token_urlsafe(32)
    while key.startswith("-"):
        key = secrets.token_urlsafe(32)
    return key, digest(key).hex()


def _match(presented: str, keys: tuple[ApiKey, ...]) -> ApiKey | None:
    candidate = digest(presented)
    found = None
    for key in keys:  # every key, every time: the time taken tells nothing about which matched
        if hmac.compare_digest(candidate, key.digest):
            found = key
    return found


def _is_open(request: flask.Request) -> bool:
    return request.endpoint is None or request.blueprint in OPEN_BLUEPRINTS


def api_key() -> ApiKey | None:
    """The configured key the request presents, or None (no key, an invalid one, or no keys)."""
    if "api_key" not in flask.g:
        presented = flask.request.headers.get(HEADER)
        keys = flask.current_app.config["API_KEYS"]
        flask.g.api_key = None if presented is None else _match(presented, keys)
    key: ApiKey | None = flask.g.api_key
    return key


def authenticate() -> None:
    """before_request: refuse (401, 403) a request whose key does not allow its method."""
    request = flask.request
    keys = flask.current_app.config["API_KEYS"]
    if not keys or request.method == "OPTIONS" or _is_open(request):
        return
    scope = "read" if request.method in READ_METHODS else "write"
    required = scope == "write" or flask.current_app.config["API_KEYS_FOR_READS"]
    if HEADER not in request.headers:
        if required:
            raise _unauthorized(problems.API_KEY_REQUIRED)
        return
    key = api_key()
    if key is None:
        raise _unauthorized(problems.API_KEY_INVALID)
    if required and scope not in key.scopes:
        raise problems.INSUFFICIENT_SCOPE.error(name=key.name, scope=scope)
    # Storage records the key's name with the request's writes (api/history.py). A request
    # that gets here without a key writes nothing, or is let write without one: its AUTHOR stays
    # None, as every request starts in a context of its own (api/serving.py).
    history.AUTHOR.set(key.name)


def _unauthorized(problem: problems.Problem) -> ApiError:
    challenge = f'{SCHEME} realm="users-api", header="{HEADER}"'
    return problem.error(header=HEADER, headers={"WWW-Authenticate": challenge})


def document(blueprint: str, method: str, operation: dict[str, Any]) -> None:
    """Say on each operation which key it needs, and document its 401 and 403 answers."""
    if blueprint in OPEN_BLUEPRINTS:
        operation["security"] = []
        return
    # A read lists "no key" first: it needs one only where API_KEYS_FOR_READS is set.
    operation["security"] = [{}, {SCHEME: []}] if method in READ_METHODS else [{SCHEME: []}]
    add_error_responses(operation, 401, 403)


# What browsers may send and read cross-origin: the headers the API reads and answers with.
CORS_REQUEST_HEADERS = [
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
    HEADER,
]
CORS_RESPONSE_HEADERS = [
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "X-Request-ID",
    "Server-Timing",
    "Idempotent-Replayed",
    "Deprecation",
    "Sunset",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
]
CORS_MAX_AGE_S = 600

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# What every response says, and the CSP of every response that is not a docs page.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
API_HEADERS = {**COMMON_HEADERS, "Cache-Control": "no-store", "Content-Security-Policy": API_CSP}
# Inline code: a <script> element without attributes (a src= script is a file).
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: str) -> str:
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'"
        for code in INLINE_SCRIPT.findall(html)
    )


def docs_csp(html: str, *, redoc: bool = False) -> str:
    """The CSP of a docs page: its own files, its inline scripts by hash, nothing else.

    Styles may be inline: Swagger UI and ReDoc write them at run time, where no hash can cover
    them (and a style cannot run code). ReDoc also needs `blob:` workers for its search and
    `data:` fonts. Scripts stay hash-only on both pages.
    """
    return (
        f"default-src 'none'; script-src 'self'{_script_hashes(html)}; "
        f"style-src 'self' 'unsafe-inline'; img-src 'self' data:{' blob:' if redoc else ''}; "
        f"connect-src 'self'; font-src 'self'{' data:' if redoc else ''}; "
        f"{'worker-src blob:; ' if redoc else ''}base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def secure_headers(response: flask.Response) -> flask.Response:
    """after_request: the headers every response carries."""
    headers = response.headers
    # Added, not set: no view writes them, and set() would search every header first.
    for name, value in COMMON_HEADERS.items():
        headers.add(name, value)
    if "Cache-Control" not in headers:  # static files keep their own
        headers.add("Cache-Control", "no-store")
    # Read once behind the proxy (see observability.finish for the ignore).
    request: flask.Request = flask.request._get_current_object()  # type: ignore[attr-defined]
    if request.blueprint == DOCS_BLUEPRINT and response.mimetype == "text/html":
        redoc = request.endpoint == f"{DOCS_BLUEPRINT}.redoc"
        headers.add(
            "Content-Security-Policy", docs_csp(response.get_data(as_text=True), redoc=redoc)
        )
    else:
        headers.add("Content-Security-Policy", API_CSP)
    return response


def enable_cors(app: flask.Flask) -> None:
    """Answer preflights and add CORS headers to responses, for the origins in CORS_ORIGINS."""
    if app.config["CORS_ORIGINS"]:
        flask_cors.CORS(
            app,
            origins=list(app.config["CORS_ORIGINS"]),
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=CORS_MAX_AGE_S,
        )


def init_app(app: flask.Flask, api: Api) -> None:
    """Document the key scheme and what each operation needs; warn when no key is needed.
    (The checks and headers are steps of api/pipeline.py.)"""
    api.spec.components.security_scheme(SCHEME, SECURITY_SCHEME)
    api.operation_docs.documenters.append(document)
    if not app.config["API_KEYS"]:
        log.warning(
            "API_KEYS is not set: anyone who can reach the service can create, change and "
            "delete users. Set API_KEYS (./scripts/new-api-key NAME) to require keys for writes."
        )
