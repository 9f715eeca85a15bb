"""How async views run: every coroutine of a worker process on that process's one event loop.

Flask runs each async view with asgiref's `async_to_sync`, in a new event loop per request. A
Motor client is bound to the loop it first ran on, so with a real MongoDB the second request
fails ("Event loop is closed"). The options measured on this stack (DESIGN.md section 3.4):

  a. Serve WSGI; send every coroutine to one long-lived loop thread. Works, but each request
     hops threads twice, and Hypercorn's WSGI wrapper (0.18.0) answers 500 for empty bodies.
  b. asgiref's WsgiToAsgi with a ThreadSensitiveContext per request. Works, still a thread hop.
  c. Chosen: serve ASGI, and run the Flask WSGI app of each request in a greenlet on the
     server's own loop. When a view awaits, `async_to_sync` switches back to the ASGI side
     with the coroutine; the ASGI side awaits it on the loop and switches back with the result.
     No thread hop, no per-request loop, and Hypercorn's WSGI wrapper is not involved. Measured
     by ../shared/bench: see the README's performance table.

What c costs: the WSGI app runs on the event-loop thread, so blocking I/O in a view stalls every
request of the worker. All I/O goes through awaited async calls (Motor); the only blocking reads
are the docs' static files, small and cached by the OS. Request bodies are read completely
(at most MAX_BODY_BYTES + 1 bytes) before the app runs; responses are sent in one piece.

Outside a request greenlet (the Flask test client, the CLI) coroutines go to one long-lived
background loop thread, option a, so that path also uses one loop per process.
"""

import asyncio
import contextlib
import contextvars
import functools
import inspect
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from io import BytesIO
from typing import Any

import flask
import orjson
from flask.json.provider import DefaultJSONProvider
from greenlet import greenlet

from api.db import Store
from api.errors import RETRY_AFTER_SECONDS, problem
from api.observability import Metrics, record, request_id, server_timing
from api.security import API_HEADERS

# Most of a body over MAX_BODY_BYTES that is read (and dropped) before answering 413.
DRAIN_BYTES = 16 * 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _RequestGreenlet(greenlet):
    """Runs one request's WSGI call; its parent is the ASGI task awaiting on its behalf."""

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run `coroutine` to its end and return its result (or raise its exception).

        It starts right here, in a copy of this greenlet's context (where Flask pushed the
        request context). A coroutine that finishes without waiting for I/O (the embedded
        store's operations, most views) never leaves the greenlet. One that waits is handed,
        with what it waits for, to the ASGI task (the parent), which finishes it in the same
        context and switches back with the outcome.
        """
        context = contextvars.copy_context()
        try:
            awaited = context.run(coroutine.send, None)
        except StopIteration as done:
            return done.value
        return self.parent.switch(coroutine, context, awaited)


class _BackgroundLoop:
    """One event loop in a daemon thread, for coroutines started outside a request greenlet."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="async-views", daemon=True).start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        # run_coroutine_threadsafe runs the task in a copy of this thread's context, so
        # flask.request and current_app stay visible inside the coroutine.
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


_background: _BackgroundLoop | None = None
_background_lock = threading.Lock()


def _background_loop() -> _BackgroundLoop:
    global _background
    with _background_lock:
        if _background is None:
            _background = _BackgroundLoop()
        return _background


# Types Flask writes its own way (dates as HTTP dates, dataclasses): orjson leaves them to it.
PASS_TO_FLASK = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, with response bodies written by orjson (ten times the standard library's
    speed on a page of users); templates' `tojson` keeps Flask's own formatting.

    What orjson refuses (an integer beyond 64 bits, a lone surrogate, a type of its own it
    does not know) is written by Flask's provider instead, so every body still comes out.
    """

    def response(self, *args: Any, **kwargs: Any) -> flask.Response:
        body = self._bytes(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body, mimetype=self.mimetype)

    def _bytes(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=PASS_TO_FLASK)
        except TypeError:
            return super().dumps(obj).encode()


class App(flask.Flask):
    """Flask, running async views on the worker's one event loop instead of a loop each."""

    json_provider_class = JsonProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_async: dict[Callable[..., Any], bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ensure_sync, remembering which functions are coroutine functions.

        Flask asks this of every hook, view and decorator layer of every request, and
        inspect.iscoroutinefunction is slow. Only plain functions are remembered (a bound
        method is asked about its function), so the memo is bounded by the code.
        """
        target = getattr(func, "__func__", func)
        if not isinstance(target, types.FunctionType):
            return super().ensure_sync(func)
        is_async = self._is_async.get(target)
        if is_async is None:
            is_async = self._is_async[target] = inspect.iscoroutinefunction(target)
        return self.async_to_sync(func) if is_async else func

    def async_to_sync(self, func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            coroutine = func(*args, **kwargs)
            current = greenlet.getcurrent()
            if isinstance(current, _RequestGreenlet):
                return current.run_coroutine(coroutine)
            return _background_loop().run(coroutine)

        return run


async def _finish_coroutine(
    coroutine: Coroutine[Any, Any, Any], context: contextvars.Context, awaited: Any
) -> Any:
    """Step `coroutine` in `context` until it returns, awaiting here whatever it awaits.

    This is what an asyncio Task does for its coroutine (Task.__step), without creating a task
    and waiting a loop iteration for it: the coroutine sees this task as the current one, so
    cancellation and asyncio.timeout() reach it as they would in a task of its own. What it
    awaited comes back to it as a task would pass it: the result by send(), an exception
    (cancellation included) by throw().
    """
    while True:
        try:
            if awaited is None:  # a bare yield (asyncio.sleep(0)): let the loop run once
                await asyncio.sleep(0)
            else:
                awaited._asyncio_future_blocking = False
                await awaited
        except BaseException as error:  # the coroutine decides, cancellation included
            step = functools.partial(coroutine.throw, error)
        else:
            step = functools.partial(coroutine.send, None)
        try:
            awaited = context.run(step)
        except StopIteration as done:
            return done.value


async def _run_in_greenlet(func: Callable[[], Any]) -> Any:
    """Call `func` in a request greenlet, finishing here every coroutine it hands over."""
    child = _RequestGreenlet(func)
    value = child.switch()
    while not child.dead:
        coroutine, context, awaited = value
        try:
            result = await _finish_coroutine(coroutine, context, awaited)
        except BaseException as error:  # the greenlet decides, cancellation included
            value = child.throw(error)
        else:
            value = child.switch(result)
    return value


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, cut at limit + 1 bytes (werkzeug answers 413 beyond the limit).

    The rest of a body over the limit is read and dropped, up to DRAIN_BYTES, so the client
    finishes sending and then reads the 413: a server that closes while the client is still
    sending makes it see a connection reset instead. A body declared larger than that, or
    awaiting `Expect: 100-continue` (the client sends nothing until told to), is not read.
    None when the client disconnected first.
    """
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        waiting = (_header(scope, b"expect") or b"").lower() == b"100-continue"
        if waiting or int(declared) > DRAIN_BYTES:
            return b""
    kept: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if size <= limit:
            kept.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > DRAIN_BYTES:
            return b"".join(kept)[: limit + 1]


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body has been read."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0] if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    # The app gets the body de-chunked, with its buffered length, so that a chunked body cut at
    # MAX_BODY_BYTES + 1 is refused with 413 like a declared one (werkzeug ignores
    # Content-Length while Transfer-Encoding says chunked).
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.setdefault("CONTENT_LENGTH", str(len(body)))
    return environ


LIVENESS_PATH = "/health/live"
LIVENESS_BODY = b'{"status":"ok"}'


class AsgiApp:
    """The ASGI application Hypercorn serves: lifespan opens and closes the store.

    Liveness (`GET /health/live`) is answered here, before Flask: it says what the Flask view
    says (the process serves requests), with the same body and headers, counted in the same
    metrics and access log, for a fraction of the cost, so probes stay cheap when the worker
    is busy. A liveness request with a query string or an Origin (CORS) goes to Flask, which
    checks those.
    """

    def __init__(self, app: flask.Flask) -> None:
        self.app = app
        self.store: Store = app.extensions["store"]
        self.max_body_bytes: int = app.config["MAX_BODY_BYTES"]
        self.metrics: Metrics = app.extensions["metrics"]
        self.access_log: bool = app.config["ACCESS_LOG"]
        self.liveness_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(LIVENESS_BODY)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: not part of this API
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.store.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["path"] == LIVENESS_PATH
            and scope["method"] in ("GET", "HEAD")
            and not scope["query_string"]
            and _header(scope, b"origin") is None
        ):
            await self._liveness(scope, send)
            return
        body = await _read_body(scope, receive, self.max_body_bytes)
        if body is None:
            return
        environ = _environ(scope, body)
        response_start: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], _exc_info: Any = None
        ) -> None:
            response_start[:] = [int(status.split(" ", 1)[0]), headers]

        def call_app() -> bytes:
            chunks: Iterable[bytes] = self.app(environ, start_response)
            try:
                return b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

        try:
            content = await _run_in_greenlet(call_app)
        except asyncio.CancelledError:
            # Hypercorn cancels the requests still running when GRACEFUL_TIMEOUT is over, and
            # would answer them 500: a 503 tells the client to retry (on another instance).
            with contextlib.suppress(Exception):  # the client may be gone as well
                await _send_response(send, *self._shutting_down(environ))
            raise
        await _send_response(send, *response_start, content)

    async def _liveness(self, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        rid = request_id(None if given is None else given.decode("latin-1"))
        elapsed = time.perf_counter() - started
        headers = [
            *self.liveness_headers,
            (b"x-request-id", rid.encode()),
            (b"server-timing", server_timing(0.0, elapsed).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else LIVENESS_BODY
        await send({"type": "http.response.body", "body": body})
        record(
            self.metrics,
            access_log_on=self.access_log,
            request_id=rid,
            method=scope["method"],
            route=LIVENESS_PATH,
            path=LIVENESS_PATH,
            status=200,
            elapsed=time.perf_counter() - started,
            storage=0.0,
        )

    def _shutting_down(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        with self.app.request_context(environ):
            response = self.app.process_response(
                problem(
                    503,
                    "shutting_down",
                    "The server is shutting down; retry the request.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            )
            return response.status_code, response.headers.to_wsgi_list(), response.get_data()


async def _send_response(
    send: Send, status: int, headers: list[tuple[str, str]], content: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
