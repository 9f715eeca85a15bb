"""Hypercorn's keep-alive timeout, kept by a timer instead of a task per request.

Hypercorn (0.18, asyncio and uvloop workers) closes a connection that is idle for
`keep_alive_timeout` seconds (5 s): between requests, and while a request's head arrives. It
keeps that deadline with a task per idle period: on every request it cancels the connection's
idle task, waits for the cancellation to land (a turn of the loop) and, once answered, starts a
new one, which runs `asyncio.wait_for` (a second task and a timer) on the worker's termination.
Measured under wrk, reading users by id, alternating servers: 7.5% of the worker's throughput
in one run (2,509 req/s with Hypercorn's idle task, 2,698 with this timer), 27% in another
(1,656 with the task, 2,113 with no idle deadline at all); the machine's noise is that large.

`install()` gives Hypercorn's TCP connections an IdleTimer instead: the same deadline, restarted
and stopped at the same points, as one `loop.call_later` handle, and the same close when it
passes (the connection's own close, in its task group). When the worker terminates (SIGTERM),
the connections idle at that moment are closed at once, as Hypercorn's idle tasks then do. It
is installed when serving starts (api/serving.py), before Hypercorn accepts connections; other
servers (uvicorn) are not concerned.
"""

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext


class _Idle:
    """The timers armed in a worker, closed at once when it terminates."""

    def __init__(self, context: WorkerContext) -> None:
        self.timers: set[IdleTimer] = set()
        # Held here: the loop keeps only a weak reference to a task.
        self.watch = asyncio.get_running_loop().create_task(self._close_at_termination(context))

    async def _close_at_termination(self, context: WorkerContext) -> None:
        await context.terminated.wait()
        for timer in list(self.timers):
            timer.expire()


_idle_of: "weakref.WeakKeyDictionary[WorkerContext, _Idle]" = weakref.WeakKeyDictionary()


class IdleTimer:
    """What Hypercorn's TCPServer calls its idle task (AsyncioSingleTask's `restart` and `stop`),
    as a timer: `restart` arms the connection's keep-alive deadline, `stop` disarms it.

    Hypercorn passes `restart` the server's `_idle_timeout` as the action to run; its work
    (wait for the deadline or the worker's termination, then close the connection) is done here.
    """

    def __init__(self, server: "IdleTimedTCPServer") -> None:
        self._server = server
        self._handle: asyncio.TimerHandle | None = None
        self._task_group: TaskGroup | None = None
        context = server.context
        idle = _idle_of.get(context)  # one per worker process
        if idle is None:
            idle = _idle_of[context] = _Idle(context)
        self._idle = idle

    async def restart(self, task_group: TaskGroup, _action: Callable[..., Any]) -> None:
        self._disarm()
        self._task_group = task_group
        if self._server.context.terminated.is_set():
            self.expire()
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._server.config.keep_alive_timeout, self.expire)
        self._idle.timers.add(self)

    async def stop(self) -> None:
        self._disarm()

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._idle.timers.discard(self)

    def expire(self) -> None:
        """The connection has been idle too long, or the worker terminates: close it."""
        self._disarm()
        if self._task_group is None:
            return
        # A task group that is over raises: its connection is closing already.
        with contextlib.suppress(RuntimeError):
            self._task_group.spawn(self._close)

    async def _close(self) -> None:
        # Shielded as in Hypercorn's idle task: the close completes even if the group ends.
        await asyncio.shield(self._server._initiate_server_close())


class IdleTimedTCPServer(TCPServer):
    """Hypercorn's TCP connection, whose keep-alive deadline is an IdleTimer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_task = IdleTimer(self)  # type: ignore[assignment]


def install() -> None:
    """Make Hypercorn's workers serve TCP connections with IdleTimedTCPServer (once; calling
    again changes nothing)."""
    hypercorn_run.TCPServer = IdleTimedTCPServer  # type: ignore[attr-defined]
