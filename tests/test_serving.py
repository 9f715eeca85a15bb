"""The ASGI bridge (api/serving.py), driven in-process on the test's event loop."""

import asyncio
import contextvars
import functools
import gc
import itertools
import time
import weakref
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import flask
import httpx
import pytest
import pytest_asyncio
from greenlet import greenlet
from werkzeug.test import EnvironBuilder

from api import create_app, crud, problems
from api.serving import (
    GC_YOUNG_THRESHOLD,
    STEP_QUANTUM_SECONDS,
    AsgiApp,
    RequestSlots,
    Response,
    _run_in_greenlet,
)
from tests.conftest import course_user


def probe_app(config: dict[str, Any] | None = None) -> AsgiApp:
    """The API plus routes that report where and how their coroutine runs."""
    app = create_app(config or {})

    async def loop_id() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"loop": id(asyncio.get_running_loop()), "path": flask.request.path}

    async def slow() -> dict[str, Any]:
        started = time.monotonic()
        await asyncio.sleep(0.2)
        return {"started": started, "arg": flask.request.args["n"]}

    async def fails() -> str:
        raise ValueError("hidden detail")

    async def times_out() -> dict[str, Any]:
        # asyncio.timeout cancels the current task: the ASGI task that finishes the coroutine.
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            return {"timed_out": True, "path": flask.request.path}
        return {"timed_out": False}

    async def fails_after_waiting() -> str:
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, int, "not a number")
        return "unreachable"

    app.add_url_rule("/probe/loop", view_func=loop_id)
    app.add_url_rule("/probe/slow", view_func=slow)
    app.add_url_rule("/probe/fails", view_func=fails)
    app.add_url_rule("/probe/timeout", view_func=times_out)
    app.add_url_rule("/probe/fails-after-waiting", view_func=fails_after_waiting)
    return AsgiApp(app)


@pytest_asyncio.fixture
async def asgi() -> AsyncIterator[AsgiApp]:
    app = probe_app()
    yield app
    app.store.close()


@pytest_asyncio.fixture
async def http(asgi: AsgiApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.asyncio
async def test_every_coroutine_runs_on_the_servers_loop(http: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(http.get("/probe/loop") for _ in range(20)))

    loops = {response.json()["loop"] for response in responses}
    assert loops == {id(asyncio.get_running_loop())}
    assert {response.json()["path"] for response in responses} == {"/probe/loop"}


@pytest.mark.asyncio
async def test_requests_wait_concurrently_and_keep_their_own_request(
    http: httpx.AsyncClient,
) -> None:
    started = time.monotonic()
    responses = await asyncio.gather(*(http.get(f"/probe/slow?n={n}") for n in range(20)))
    elapsed = time.monotonic() - started

    assert [response.json()["arg"] for response in responses] == [str(n) for n in range(20)]
    # One after another, 20 requests sleeping 0.2 s take at least 4 s on any machine; at once,
    # about 0.2 s. Half the serial time leaves a slow machine ample room.
    assert elapsed < 20 * 0.2 / 2, (
        f"20 requests sleeping 0.2 s took {elapsed:.2f} s: not concurrent"
    )


@pytest.mark.asyncio
async def test_an_exception_in_a_coroutine_becomes_a_500_problem(http: httpx.AsyncClient) -> None:
    response = await http.get("/probe/fails")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hidden detail" not in response.text


@pytest.mark.asyncio
async def test_the_api_works_through_the_bridge(http: httpx.AsyncClient) -> None:
    created = await http.post("/api/v1/users", json=course_user())
    fetched = await http.get(created.headers["location"])
    deleted = await http.delete(created.headers["location"])

    assert created.status_code == 201
    assert fetched.json() == created.json()
    assert deleted.status_code == 204
    assert deleted.content == b""


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of an HTTP/1.1 request from a client on 127.0.0.1."""
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }


async def call(
    app: AsgiApp, method: str, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request as raw ASGI messages, the body in `chunks`; return the response."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(http_scope(method, path, headers), receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


@pytest.mark.asyncio
async def test_a_chunked_body_over_the_limit_is_413(asgi: AsgiApp) -> None:
    chunk = b"x" * 65536
    count = asgi.max_body_bytes // len(chunk) + 2

    status, headers, _ = await call(
        asgi,
        "POST",
        "/api/v1/users",
        [chunk] * count,
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    )

    assert status == 413
    assert headers[b"content-type"] == b"application/problem+json"


@pytest.mark.asyncio
async def test_a_chunked_body_within_the_limit_is_read_whole(asgi: AsgiApp) -> None:
    body = b'{"name": "Ada", "email": "ada@example.com"}'

    status, _, content = await call(
        asgi,
        "POST",
        "/api/v1/users",
        [body[:10], body[10:30], body[30:]],
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    )

    assert status == 201, content


@pytest.mark.asyncio
async def test_a_client_gone_before_its_body_arrived_gets_no_response(asgi: AsgiApp) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/users",
        "headers": [],
        "query_string": b"",
        "http_version": "1.1",
    }
    await asgi(scope, receive, send)

    assert sent == []


@pytest.mark.asyncio
async def test_lifespan_opens_the_store_on_the_loop_and_closes_it() -> None:
    app = probe_app()
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        if sent:  # startup is complete: the store is open on this loop
            await crud.create_user(app.store, data=course_user())
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    # Closed: the in-memory data went with the client, and the store opens afresh.
    assert (await crud.list_users(app.store))["total"] == 0
    app.store.close()


class Cyclic:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.asyncio
async def test_start_up_objects_stay_out_of_collections_and_request_garbage_is_collected() -> None:
    app = probe_app()
    threshold = gc.get_threshold()
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    seen: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if len(messages) == 1:  # startup is complete
            seen["frozen"], seen["young"] = gc.get_freeze_count(), gc.get_threshold()[0]
            garbage = weakref.ref(Cyclic())  # made after start-up, as a request's objects are
            gc.collect()
            seen["collected"] = garbage() is None
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    gc.unfreeze()
    try:
        await app({"type": "lifespan"}, receive, send)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        app.store.close()

    assert seen["frozen"] > 10_000  # the modules, the app and the store
    assert seen["young"] == GC_YOUNG_THRESHOLD
    assert seen["collected"]


@pytest.mark.asyncio
async def test_a_coroutine_finished_by_the_asgi_task_is_cancelled_and_timed_out_as_in_a_task(
    http: httpx.AsyncClient,
) -> None:
    timed = await http.get("/probe/timeout")
    failed = await http.get("/probe/fails-after-waiting")

    assert timed.json() == {"timed_out": True, "path": "/probe/timeout"}
    assert failed.status_code == 500  # the executor's ValueError reached the view, then Flask


@pytest.mark.asyncio
async def test_liveness_is_answered_before_flask_as_flask_answers_it(
    asgi: AsgiApp, http: httpx.AsyncClient
) -> None:
    fast = await http.get("/health/live", headers={"X-Request-ID": "probe-1"})
    through_flask = await http.get("/health/live?via=flask", headers={"X-Request-ID": "probe-2"})
    head = await http.head("/health/live")

    assert fast.status_code == through_flask.status_code == 200
    assert fast.json() == through_flask.json() == {"status": "ok"}
    assert set(fast.headers) == set(through_flask.headers)
    for name in ("content-type", "cache-control", "content-security-policy", "referrer-policy"):
        assert fast.headers[name] == through_flask.headers[name]
    assert fast.headers["x-request-id"] == "probe-1"
    assert fast.headers["server-timing"].startswith("db;dur=0.00, app;dur=")
    assert head.content == b""
    assert head.headers["content-length"] == fast.headers["content-length"] == "16"
    requests = asgi.metrics.requests
    assert requests.labels("GET", "/health/live", "200")._value.get() == 2
    assert requests.labels("HEAD", "/health/live", "200")._value.get() == 1


async def iterations_while(work: Any) -> tuple[Any, list[int]]:
    """Run `work` while counting event-loop iterations; return its result and the count at
    each of its marks (work calls mark())."""
    count = 0
    running = True

    def tick() -> None:
        nonlocal count
        count += 1
        if running:
            asyncio.get_running_loop().call_soon(tick)

    marks: list[int] = []
    asyncio.get_running_loop().call_soon(tick)
    try:
        result = await work(lambda: marks.append(count))
    finally:
        running = False
    return result, marks


async def step(slots: RequestSlots, work: Callable[[], Any]) -> None:
    """One request step, as api/serving.py runs it."""
    started = await slots.turn()
    try:
        work()
    finally:
        slots.done(started)


def hold_loop(seconds: float) -> None:
    time.sleep(seconds)


@pytest.mark.asyncio
async def test_cheap_steps_share_an_iteration_and_the_rest_wait_in_arrival_order() -> None:
    slots = RequestSlots(limit=10)
    order: list[int] = []

    async def work(mark: Any) -> None:
        def run(number: int) -> None:
            hold_loop(STEP_QUANTUM_SECONDS * 0.6)
            order.append(number)
            mark()

        await asyncio.gather(*(step(slots, functools.partial(run, n)) for n in range(5)))

    _, marks = await iterations_while(work)

    assert order == [0, 1, 2, 3, 4]
    # The first two start within one quantum of the window: the same iteration, no hand-off.
    assert marks[0] == marks[1]
    # The third started past the quantum: it waited for the loop to run in between.
    assert marks[2] > marks[1]
    assert all(later >= earlier for earlier, later in itertools.pairwise(marks))


@pytest.mark.asyncio
async def test_a_long_step_gives_the_loop_an_iteration_per_quantum_it_took() -> None:
    slots = RequestSlots(limit=10)

    async def work(mark: Any) -> None:
        def run(block: float) -> None:
            hold_loop(block)
            mark()

        await asyncio.gather(
            step(slots, functools.partial(run, STEP_QUANTUM_SECONDS * 6)),
            step(slots, functools.partial(run, 0)),
        )

    _, (first, second) = await iterations_while(work)

    assert second - first >= 6


@pytest.mark.asyncio
async def test_a_waiter_cancelled_in_line_does_not_stop_the_ones_after_it() -> None:
    slots = RequestSlots(limit=10)
    ran: list[str] = []

    async def request(name: str) -> None:
        def run() -> None:
            hold_loop(STEP_QUANTUM_SECONDS * 1.5)  # the next ones wait in line
            ran.append(name)

        await step(slots, run)

    first = asyncio.create_task(request("first"))
    cancelled = asyncio.create_task(request("cancelled"))
    last = asyncio.create_task(request("last"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(first, last, cancelled, return_exceptions=True)

    assert ran == ["first", "last"]
    assert cancelled.cancelled()


@pytest.mark.asyncio
async def test_beyond_max_in_flight_it_answers_503_at_once_and_probes_are_exempt() -> None:
    asgi = probe_app({"MAX_IN_FLIGHT": 1})
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        slow = asyncio.create_task(http.get("/probe/slow", params={"n": "1"}))
        await asyncio.sleep(0.05)  # the slow request holds the one slot
        shed = await http.get("/api/v1/users")
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")
        assert (await slow).status_code == 200
        served = await http.get("/api/v1/users")
    asgi.store.close()

    problem = shed.json()
    assert (shed.status_code, problem["code"]) == (503, problems.OVERLOADED.code)
    assert problem["detail"] == problems.OVERLOADED.detail  # as documented
    assert shed.headers["Content-Type"] == "application/problem+json"
    assert shed.headers["Retry-After"] == "1"
    assert shed.headers["X-Request-ID"] == problem["request_id"]
    assert problem["instance"] == "/api/v1/users"
    assert (ready.status_code, live.status_code, served.status_code) == (200, 200, 200)
    metrics = asgi.metrics.requests.labels("GET", "/api/v1/users", "503")._value.get()
    assert metrics == 1


@pytest.mark.asyncio
async def test_an_answer_the_client_does_not_read_holds_no_place_of_max_in_flight() -> None:
    # A client that stops reading: the server's send of the body never completes.
    asgi = probe_app({"MAX_IN_FLIGHT": 1})
    started, stalled = asyncio.Event(), asyncio.Event()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def never_sent(message: MutableMapping[str, Any]) -> None:
        started.set()
        if message["type"] == "http.response.body":
            await stalled.wait()

    scope = http_scope("GET", "/api/v1/users", [(b"host", b"test")])
    stuck = asyncio.create_task(asgi(scope, receive, never_sent))
    await asyncio.wait_for(started.wait(), 30)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        served = await http.get("/api/v1/users")
    stalled.set()
    await stuck
    asgi.store.close()

    assert served.status_code == 200  # not 503 overloaded: the one place was free


@pytest.mark.asyncio
async def test_request_greenlets_are_reused_and_carry_no_context_between_requests() -> None:
    leak: contextvars.ContextVar[str] = contextvars.ContextVar("leak", default="unset")
    seen: list[str] = []

    def first() -> Any:
        leak.set("first request")
        return greenlet.getcurrent()

    def second() -> Any:
        seen.append(leak.get())
        return greenlet.getcurrent()

    def failing() -> Any:
        raise ZeroDivisionError("in the view")

    ran_first = await _run_in_greenlet(first)
    with pytest.raises(ZeroDivisionError, match="in the view"):
        await _run_in_greenlet(failing)
    ran_second = await _run_in_greenlet(second)

    assert ran_second is ran_first  # reused, after an exception too
    assert seen == ["unset"]


@pytest.mark.asyncio
async def test_below_root_path_probes_are_answered_early_and_never_shed() -> None:
    asgi = probe_app({"ROOT_PATH": "/users-api", "MAX_IN_FLIGHT": 1})
    asgi.slots.in_flight = asgi.slots.limit  # a worker with every slot held
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        live = await http.get("/users-api/health/live")
        metrics = await http.get("/users-api/metrics")
        shed = await http.get("/users-api/api/v1/users")

    assert live.status_code == 200
    assert metrics.status_code == 200
    assert shed.status_code == 503
    assert shed.json()["code"] == "overloaded"
    # Counted under the route templates, not as unmatched prefixed paths.
    requests = asgi.metrics.requests
    assert requests.labels("GET", "/health/live", "200")._value.get() == 1
    assert requests.labels("GET", "/api/v1/users", "503")._value.get() == 1


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, {"ETag": '"1"', "X-Request-ID": "a"}, b"{}"),  # kept as it is
        (201, {"Location": "/api/v1/users/caf\u00e9"}, b"{}"),  # made a URI
        (200, {"Content-Location": "/caf\u00e9"}, b"{}"),
        (204, {"ETag": '"2"'}, b""),  # no Content-Length
        (304, {"ETag": '"2"', "Content-Type": "application/json"}, b""),  # no entity headers
        (101, {"Upgrade": "h2c"}, b""),
        (200, {}, iter([b"a", b"b"])),  # a stream: no length to give
    ],
)
def test_the_wsgi_headers_are_werkzeugs(status: int, headers: dict[str, str], body: Any) -> None:
    # The fast path hands werkzeug's server the response's own headers: only when its copy
    # would have come out the same.
    environ = EnvironBuilder(path="/api/v1/users", method="POST").get_environ()
    ours = Response(body, status=status, headers=headers)
    werkzeugs = flask.Response(body, status=status, headers=headers)

    assert ours.get_wsgi_headers(environ).to_wsgi_list() == (
        werkzeugs.get_wsgi_headers(environ).to_wsgi_list()
    )
