"""The MongoDB client of one worker process, bound to that process's one event loop.

A Motor client belongs to the loop it was created on; using it from another loop fails with
"attached to a different loop" or "Event loop is closed" (mongomock-motor hides this because it
does no I/O). `Store` therefore creates its client inside the loop that serves requests (see
api/asgi.py for which loop that is) and refuses to be used from any other loop.

This module and crud.py are the only ones that import the driver, so moving from Motor to
PyMongo's `AsyncMongoClient` (Motor's end of life: May 2026, critical fixes until May 2027)
changes these two modules only.
"""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import pymongo
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import ConnectionFailure, PyMongoError

log = logging.getLogger(__name__)

USERS = "users"

# Longest a close() may take (see Store.close); shutdown waits for it after GRACEFUL_TIMEOUT.
CLOSE_TIMEOUT_S = 1.0

# Every query crud.py issues is served by one of these (README, "Indexes").
USER_INDEXES = [
    IndexModel([("email_key", ASCENDING)], unique=True, name="email_key_unique"),
    IndexModel([("created_at", ASCENDING), ("_id", ASCENDING)], name="created_at_id"),
    IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name_id"),
    IndexModel([("role", ASCENDING), ("created_at", DESCENDING)], name="role_created_at"),
    IndexModel([("skills", ASCENDING)], name="skills"),
    IndexModel([("active", ASCENDING)], name="active"),
]


class DatabaseUnavailable(Exception):
    """MongoDB did not answer within the configured timeout, or the connection failed."""


P = ParamSpec("P")
T = TypeVar("T")


def storage_operation(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn the driver's connection and timeout errors into DatabaseUnavailable."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except PyMongoError as error:
            if isinstance(error, ConnectionFailure) or error.timeout:
                raise DatabaseUnavailable(type(error).__name__) from error
            raise

    return wrapper


class Store:
    """The users collection of one MongoDB database, reached through one client.

    With `uri=None` the store is an in-memory mongomock database: nothing is persisted and each
    process has its own data.
    """

    def __init__(self, *, uri: str | None, database: str, timeout_ms: int) -> None:
        self.uri = uri
        self.database = database
        self.timeout_ms = timeout_ms
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._indexes_ready = False

    @property
    def embedded(self) -> bool:
        """True when the data lives in this process's memory only."""
        return self.uri is None

    async def open(self) -> None:
        """Create the client on the running loop and its indexes; a no-op once open.

        A database that is down at start-up is logged, not fatal: the indexes are created on
        the first operation after it comes back, and readiness reports 503 until then.
        """
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self.uri is None:
            log.warning(
                "MONGODB_URI is not set: using the embedded in-memory store. "
                "Nothing is persisted; the data is lost when the process stops."
            )
            self._client = AsyncMongoMockClient(tz_aware=True)
        else:
            self._client = AsyncIOMotorClient(
                self.uri,
                io_loop=self._loop,
                tz_aware=True,
                appname="users-api",
                timeoutMS=self.timeout_ms,
                serverSelectionTimeoutMS=self.timeout_ms,
                connectTimeoutMS=self.timeout_ms,
            )
        try:
            await self._ensure_indexes()
        except DatabaseUnavailable:
            log.warning("MongoDB is unavailable at start-up; indexes will be created later")

    async def users(self) -> AsyncIOMotorCollection:
        """Return the users collection, opening the store on first use."""
        if self._client is None:
            await self.open()
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("the store is bound to another event loop")
        if not self._indexes_ready:
            await self._ensure_indexes()
        return self._client[self.database][USERS]

    @storage_operation
    async def ping(self) -> None:
        """Return when MongoDB answers a ping; raise DatabaseUnavailable otherwise."""
        if self._client is None:
            await self.open()
        await self._client[self.database].command("ping")
        if not self._indexes_ready:
            await self._ensure_indexes()

    @storage_operation
    async def _ensure_indexes(self) -> None:
        # create_indexes is not bounded by the client's timeoutMS (its retry spends a second
        # server selection timeout); pymongo.timeout bounds it, and Motor carries it over.
        with pymongo.timeout(self.timeout_ms / 1000):
            await self._client[self.database][USERS].create_indexes(USER_INDEXES)
        self._indexes_ready = True

    def close(self) -> None:
        """Close the client; the store can be opened again afterwards.

        Takes at most CLOSE_TIMEOUT_S: closing ends the client's server sessions with one
        command, which a slow or unreachable MongoDB would otherwise hold up for a whole
        timeout, and it blocks the loop (Motor closes synchronously). The sessions are
        best-effort anyway: MongoDB expires them on its own.
        """
        if self._client is not None:
            with pymongo.timeout(CLOSE_TIMEOUT_S):
                self._client.close()
            log.info("MongoDB client closed")
        self._client = None
        self._loop = None
        self._indexes_ready = False
