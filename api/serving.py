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
(at most MAX_BODY_BYTES + 1 bytes, within BODY_TIMEOUT) before the app runs; responses are sent
in one piece. Since every request runs on the one loop, the requests held (at most
MAX_IN_FLIGHT) take turns, so that the loop keeps accepting, reading and answering probes
between them (RequestSlots).

Outside a request greenlet (the Flask test client, the CLI) coroutines go to one long-lived
background loop thread, option a, so that path also uses one loop per process.
"""

import asyncio
import collections
import contextlib
import contextvars
import errno
import functools
import gc
import inspect
import logging
import os
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, MutableMapping
from io import BytesIO
from typing import Any, NamedTuple

import flask
import orjson
from flask.json.provider import DefaultJSONProvider
from greenlet import GreenletExit, greenlet
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from api import framing, keepalive, problems
from api.db import Store
from api.observability import UNMATCHED, LogBudget, Metrics, record, request_id, server_timing
from api.problems import PROBLEM_JSON, Problem, problem_document
from api.security import API_HEADERS

log = logging.getLogger(__name__)

# Most of a body over MAX_BODY_BYTES that is read (and dropped) before answering 413.
DRAIN_BYTES = 16 * 1024 * 1024

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _RequestGreenlet(greenlet):
    """Runs request WSGI calls, one at a time; its parent is the ASGI side, where the task of
    the request it runs awaits on its behalf.

    Reused: a new greenlet maps and unmaps a frame stack of its own (16 KiB), a syscall pair
    and page faults per request. Each call runs in a new, empty context, as it would in a new
    greenlet, so no context variable passes from one request to the next.
    """

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, call: Callable[[], Any]) -> None:
        while True:
            try:
                outcome = _Outcome(contextvars.Context().run(call), None)
            except GreenletExit:
                raise  # collected while suspended (its request was abandoned): end here
            except BaseException as error:  # the awaiting task decides, cancellation included
                outcome = _Outcome(None, error)
            call = self.parent.switch(outcome)

    parent: greenlet  # never None: the greenlet of the ASGI task that started this one

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


class _Outcome(NamedTuple):
    """What a request greenlet's call returned or raised."""

    value: Any
    error: BaseException | None


# Idle request greenlets kept for reuse: as many as requests ran at once, up to this.
MOST_IDLE_GREENLETS = 64
_idle_greenlets: list[_RequestGreenlet] = []


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

    _app: flask.Flask  # Flask types it as its sansio App; it is the serving App

    def response(self, *args: Any, **kwargs: Any) -> flask.Response:
        # A final newline, as Flask writes it: curl's output then ends its line.
        body = self._bytes(self._prepare_response_obj(args, kwargs)) + b"\n"
        return self._app.response_class(body, mimetype=self.mimetype)

    def _bytes(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=PASS_TO_FLASK)
        except TypeError:
            return super().dumps(obj).encode()


# Headers werkzeug rewrites on the way out (into URIs), so their responses take its own path.
_REWRITTEN_HEADERS = frozenset({"location", "content-location"})


class Response(flask.Response):
    """Flask's response, whose WSGI headers are its own headers when werkzeug has nothing to
    change in them.

    werkzeug copies every response's headers before it fixes them for the WSGI server (a
    Location made a URI, a Content-Length dropped or added by status), validating each one
    again: a tenth of a small read's header work. A response with a Content-Length, a status
    that keeps it (not 1xx, 204 or 304) and no Location or Content-Location would come out of
    that copy unchanged, so it is not made.
    """

    def get_wsgi_headers(self, environ: Any) -> Headers:
        status = self.status_code
        if status < 200 or status in (204, 304):
            return super().get_wsgi_headers(environ)
        has_length = False
        for name, _value in self.headers:
            lowered = name.lower()
            if lowered in _REWRITTEN_HEADERS:
                return super().get_wsgi_headers(environ)
            has_length = has_length or lowered == "content-length"
        return self.headers if has_length else super().get_wsgi_headers(environ)


class App(flask.Flask):
    """Flask, running async views on the worker's one event loop instead of a loop each."""

    json_provider_class = JsonProvider
    response_class = Response

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_async: dict[Callable[..., Any], bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ensure_sync, remembering which functions are coroutine functions.

        Flask asks this of every hook, view and decorator layer of every request, and
        inspect.iscoroutinefunction is slow. Only plain functions are remembered (a bound
        method is asked about its function), so the memo is bounded by the code.
        """
        is_async = self._is_async.get(func)  # a plain function: known after its first request
        if is_async is None:
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


# The work a loop iteration may spend on request steps before the loop gets its own turn.
# 5 ms: under 64 clients reading users by id, a get's p99 was 35 ms against 51 ms with 10 ms, for
# the same throughput (2,479 and 2,542 req/s, within the machine's noise; on uvloop, with the
# keep-alive timer). Before those two, 5 ms cost 12% of that throughput: steps waiting in line
# cost a hand-off each, and a hand-off cost more. A probe needs about ten turns either way.
STEP_QUANTUM_SECONDS = 0.005
# Most waiting steps started together: a bound on the estimate of how many fit in a quantum.
MOST_STEPS_PER_WINDOW = 64
# Allocations between two collections of the youngest generation (CPython's default: 700). A
# request allocates a few thousand objects, and with tens of requests in flight the default
# collects several times per request, each time walking (and promoting) the objects of every
# request still running: measured under wrk, a tenth of a read's CPU on one machine. Far above
# it, a collection is rare but walks tens of thousands of live objects at once: at 50,000 each
# took 25 to 50 ms, a pause every request in flight waits out (get_by_id's p99 50 ms, against 42
# at 5,000 for the same throughput; list and create gained 2 to 5% as well).
GC_YOUNG_THRESHOLD = 5_000


class RequestSlots:
    """At most `limit` requests in flight in a worker; their work runs in arrival order, and
    the loop gets an iteration of its own for every STEP_QUANTUM_SECONDS of it.

    A step is what a request's greenlet does between two waits: with the embedded store, all of
    a request; with MongoDB, the parts before, between and after its commands. Hypercorn makes
    one task per request and asyncio runs all ready tasks in each iteration, so without this
    every request ready at once runs before the loop accepts, reads or writes anything else:
    64 page reads of 100 users hold a liveness probe for seconds, and a probe needs about ten
    iterations (accept, read, parse, answer).

    So steps run in windows. The first step of an iteration opens one, and the steps that start
    within STEP_QUANTUM_SECONDS of it run at once, as they would without any of this: cheap
    requests cost no hand-off. A step that starts later waits in line. In the next iteration the
    window closes: the loop is owed one iteration for every quantum the window took beyond its
    first, and then the next window lets in as many waiting steps as fit in a quantum, judged by
    the recent steps' average: a 100 ms page of users lets the loop run 20 iterations first,
    and a 0.5 ms read by id shares a window with nine others.

    Requests beyond the limit are refused by the caller at once (503 `overloaded`), so neither
    the line nor the time spent in it grows without bound.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._window: float | None = None  # when the open window started
        self._step_seconds = STEP_QUANTUM_SECONDS  # recent steps' average

    @property
    def full(self) -> bool:
        return self.in_flight >= self.limit

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """One request in flight for the duration of the block."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def turn(self) -> float:
        """Wait for this step's turn; returns its start time, for `done`. The step must not
        await."""
        if not self._waiting and self._in_window():
            return time.perf_counter()
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        await turn  # cancelled in line: its future is done, and skipped (a turn holds nothing)
        return time.perf_counter()

    def done(self, started: float) -> None:
        """After the step that `turn` started at `started`."""
        self._step_seconds += (time.perf_counter() - started - self._step_seconds) / 8

    def _in_window(self) -> bool:
        now = time.perf_counter()
        if self._window is None:
            self._open_window(now)
            return True
        return now - self._window < STEP_QUANTUM_SECONDS

    def _open_window(self, now: float) -> None:
        self._window = now
        asyncio.get_running_loop().call_soon(self._close_window, None)

    def _close_window(self, owed: int | None) -> None:
        # Called in the iteration after the window opened, and once more per iteration owed.
        if owed is None and self._window is not None:
            owed = int((time.perf_counter() - self._window) / STEP_QUANTUM_SECONDS)
        if owed:
            asyncio.get_running_loop().call_soon(self._close_window, owed - 1)
            return
        self._window = None
        room = max(1, min(MOST_STEPS_PER_WINDOW, int(STEP_QUANTUM_SECONDS / self._step_seconds)))
        let_in = 0
        while self._waiting and let_in < room:
            turn = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled in line has a done future
                turn.set_result(None)
                let_in += 1
        if let_in:  # they run in the next iteration: that is the next window
            self._open_window(time.perf_counter())


async def _run_in_greenlet(func: Callable[[], Any], slots: RequestSlots | None = None) -> Any:
    """Call `func` in a request greenlet, finishing here every coroutine it hands over; with
    `slots`, each switch into the greenlet is a step that waits its turn (RequestSlots)."""
    child = _idle_greenlets.pop() if _idle_greenlets else _RequestGreenlet()

    async def resume(operation: Callable[..., Any], *args: Any) -> Any:
        if slots is None:
            return operation(*args)
        started = await slots.turn()
        try:
            return operation(*args)
        finally:
            slots.done(started)

    # Left suspended if this task is cancelled while waiting: then it is not reused.
    value = await resume(child.switch, func)
    while not isinstance(value, _Outcome):
        coroutine, context, awaited = value
        try:
            result = await _finish_coroutine(coroutine, context, awaited)
        except BaseException as error:  # the greenlet decides, cancellation included
            value = await resume(child.throw, error)
        else:
            value = await resume(child.switch, result)
    if len(_idle_greenlets) < MOST_IDLE_GREENLETS:
        _idle_greenlets.append(child)
    if value.error is not None:
        raise value.error
    return value.value


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


def _framed_body(scope: Scope) -> bool:
    """Whether the request's head announces a body."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


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


def _app_path(scope: Scope, root: str) -> str:
    """The request's path below the prefix `root` the app is reached under (a proxy that strips
    the prefix sends the path without it)."""
    path: str = scope["path"]
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :]
    return path


def _environ(scope: Scope, body: bytes, root_path: str = "") -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body has been read.

    `root_path` (ROOT_PATH, else the server's) is the prefix the app is reached under: it is
    SCRIPT_NAME, and taken off PATH_INFO when the path holds it (a proxy that strips it sends
    the path without).
    """
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    root = root_path or scope.get("root_path", "")
    path = _app_path(scope, root)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode().decode("latin-1"),
        "PATH_INFO": path.encode().decode("latin-1"),
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
        if b"_" in raw_name:
            # In the environ `X_API_Key` and `X-API-Key` would both be HTTP_X_API_KEY, and a
            # `Content_Length` would be read as the length h11 did not frame the body by.
            # Dropped, as nginx does by default (underscores_in_headers off).
            continue
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
LIVENESS_BODY = b'{"status":"ok"}\n'
# Never refused for load nor made to wait their turn: the probes, so that an orchestrator
# sees the truth, and the metrics, so that monitoring sees the overload.
UNSHED_PATHS = frozenset({LIVENESS_PATH, "/health/ready", "/metrics"})
# asyncio's errors when accept() finds no file handle (or memory) for a new connection.
OUT_OF_HANDLES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# How asyncio reports a scheduled retry of accept() that failed (its listening socket closed).
RETRIED_ACCEPT = "Exception in callback BaseSelectorEventLoop._start_serving"

Header = tuple[bytes, bytes]


class AsgiApp:
    """The ASGI application Hypercorn serves: lifespan opens and closes the store.

    Liveness (`GET /health/live`) is answered here, before Flask: it says what the Flask view
    says (the process serves requests), with the same body and headers, counted in the same
    metrics and access log, for a fraction of the cost, so probes stay cheap when the worker
    is busy. A liveness request with a query string or an Origin (CORS) goes to Flask, which
    checks those.

    Also answered here, as problem details with the API's headers, counted and logged:
    408 `body_timeout` (with `Connection: close`) when a body has not arrived within
    BODY_TIMEOUT seconds of its head; 503 `overloaded` (with `Retry-After`) when MAX_IN_FLIGHT
    requests are already in flight (see RequestSlots; UNSHED_PATHS are not counted); 503
    `shutting_down` (with `Retry-After`) for a request cancelled at the end of GRACEFUL_TIMEOUT.
    """

    def __init__(self, app: flask.Flask) -> None:
        self.app = app
        self.store: Store = app.extensions["store"]
        self.max_body_bytes: int = app.config["MAX_BODY_BYTES"]
        self.body_timeout: int = app.config["BODY_TIMEOUT"]
        self.root_path: str = app.config["ROOT_PATH"]
        self.slots = RequestSlots(app.config["MAX_IN_FLIGHT"])
        self.metrics: Metrics = app.extensions["metrics"]
        self.access_log: bool = app.config["ACCESS_LOG"]
        self.api_headers = [
            (name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()
        ]
        self.liveness_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(LIVENESS_BODY)).encode()),
            *self.api_headers,
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
                framing.install()
                keepalive.install()
                _, *older = gc.get_threshold()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
                _log_accept_failures_briefly(asyncio.get_running_loop())
                await self.store.open()
                # What start-up made (modules, the app, the store) lives as long as the process:
                # kept out of every later collection, which then walks only what requests made
                # (a full collection took 29 ms with it, a pause every request in flight waits).
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Behind a proxy that keeps ROOT_PATH in the path, the probes are found below it too.
        path = _app_path(scope, self.root_path or scope.get("root_path", ""))
        if (
            path == LIVENESS_PATH
            and scope["method"] in ("GET", "HEAD")
            and not scope["query_string"]
            and _header(scope, b"origin") is None
        ):
            await self._liveness(scope, send)
            return
        if scope["method"] not in ("GET", "HEAD") or _framed_body(scope):
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await _read_body(scope, receive, self.max_body_bytes)
            except TimeoutError:
                await self._refuse(scope, send, problems.BODY_TIMEOUT, seconds=self.body_timeout)
                return
            if body is None:
                return
        else:  # a read without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3)
            body = b""
        if path in UNSHED_PATHS:
            status, headers, content = await self._call_flask(scope, send, body, slots=None)
        elif self.slots.full:
            await self._refuse(scope, send, problems.OVERLOADED)
            return
        else:
            # The place is held while the app runs, not while the answer is sent: a client that
            # stops reading holds its connection, not a place of MAX_IN_FLIGHT.
            with self.slots.held():
                status, headers, content = await self._call_flask(
                    scope, send, body, slots=self.slots
                )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _call_flask(
        self,
        scope: Scope,
        send: Send,
        body: bytes,
        slots: RequestSlots | None,
    ) -> tuple[int, list[Header], bytes]:
        """The app's answer to a request whose body has been read: status, headers, body."""
        environ = _environ(scope, body, self.root_path)
        response_start: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], _exc_info: Any = None
        ) -> None:
            response_start[:] = [int(status.split(" ", 1)[0]), headers]

        def call_app() -> bytes:
            # start_response returns no write() callable (PEP 3333's legacy way to send a
            # body): Flask never calls it.
            chunks: Iterable[bytes] = self.app(environ, start_response)  # type: ignore[arg-type]
            try:
                return b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

        try:
            content = await _run_in_greenlet(call_app, slots)
        except asyncio.CancelledError:
            # Hypercorn cancels the requests still running when GRACEFUL_TIMEOUT is over, and
            # would answer them 500: a 503 tells the client to retry (on another instance).
            with contextlib.suppress(Exception):  # the client may be gone as well
                await self._refuse(scope, send, problems.SHUTTING_DOWN)
            raise
        status, headers = response_start
        encoded = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return status, encoded, content

    def _request_id(self, scope: Scope) -> str:
        given = _header(scope, b"x-request-id")
        return request_id(None if given is None else given.decode("latin-1"))

    async def _liveness(self, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        rid = self._request_id(scope)
        elapsed = time.perf_counter() - started
        headers = [
            *self.liveness_headers,
            (b"x-request-id", rid.encode()),
            (b"server-timing", server_timing(0.0, elapsed).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else LIVENESS_BODY
        await send({"type": "http.response.body", "body": body})
        self._record(scope, rid, LIVENESS_PATH, 200, started)

    async def _refuse(self, scope: Scope, send: Send, problem: Problem, **arguments: Any) -> None:
        """Answer a problem without Flask: its body and headers as api/problems.py defines them
        (`arguments` fill its detail), and the API's headers."""
        started = time.perf_counter()
        rid = self._request_id(scope)
        status = problem.status
        detail = problem.detail.format(**arguments)
        content = orjson.dumps(
            problem_document(status, problem.code, detail, path=scope["path"], request_id=rid)
        )
        start_headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(content)).encode()),
            *self.api_headers,
            (b"x-request-id", rid.encode()),
            (b"server-timing", server_timing(0.0, time.perf_counter() - started).encode()),
            *[(name.lower().encode(), value.encode()) for name, value in problem.headers.items()],
        ]
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        body = b"" if scope["method"] == "HEAD" else content
        await send({"type": "http.response.body", "body": body})
        self._record(scope, rid, self._route(scope), status, started)

    def _route(self, scope: Scope) -> str:
        """The route template a request would have been served by, for the metrics."""
        try:
            rule, _ = self.app.url_map.bind("").match(
                _app_path(scope, self.root_path or scope.get("root_path", "")),
                method=scope["method"],
                return_rule=True,
            )
        except HTTPException:  # no route, another method, a redirect
            return UNMATCHED
        return rule.rule

    def _record(self, scope: Scope, rid: str, route: str, status: int, started: float) -> None:
        record(
            self.metrics,
            access_log_on=self.access_log,
            request_id=rid,
            method=scope["method"],
            route=route,
            path=scope["path"],
            status=status,
            elapsed=time.perf_counter() - started,
            storage=0.0,
        )


# How often a worker tries to open a file handle, to see whether it has run out of them.
HANDLE_CHECK_SECONDS = 1.0


def _log_accept_failures_briefly(loop: asyncio.AbstractEventLoop) -> None:
    """Log running out of file handles in one line at most once a second.

    When accept() finds no file handle, the worker goes on serving its open connections and
    accepts new ones as handles free up. Until then, on asyncio's own loop the new connections
    wait in the listening socket's backlog (asyncio retries accept() a second later); on uvloop
    libuv accepts them with a handle it keeps in reserve and closes them at once, so clients see
    the connection closed and may retry elsewhere (its "EMFILE trick"), and nothing is reported
    to the loop.

    So the worker tries to open a handle once a second (HANDLE_CHECK_SECONDS) and logs when it
    cannot. On asyncio's loop, CPython 3.11 also reports every failed accept through the loop's
    exception handler, each with a traceback (measured: about 2,500 a second while out of
    handles), and at shutdown every retry still pending fails on the closed socket, traceback
    again. The handler set here reports both in the same line, within the same budget of one
    a second (the lines it drops are counted), and leaves every other error to the handler it
    replaces.
    """
    previous = loop.get_exception_handler()
    budget = LogBudget(log, per_second=1)

    def report(error: object) -> None:
        if budget.allow():
            log.warning("cannot accept connections: %s; serving the open ones", error)

    def check_handles() -> None:
        try:
            os.close(os.open(os.devnull, os.O_RDONLY))
        except OSError as error:
            if error.errno in OUT_OF_HANDLES:  # any other failure says nothing of handles
                report(error)
        loop.call_later(HANDLE_CHECK_SECONDS, check_handles)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        message = context.get("message", "")
        out_of_handles = (
            isinstance(error, OSError)
            and error.errno in OUT_OF_HANDLES
            and message.startswith("socket.accept()")
        )
        if out_of_handles or message.startswith(RETRIED_ACCEPT):
            report(error)
            return
        if previous is None:
            loop.default_exception_handler(context)
        else:
            previous(loop, context)

    loop.set_exception_handler(handle)
    loop.call_later(HANDLE_CHECK_SECONDS, check_handles)
