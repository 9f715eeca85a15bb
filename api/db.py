"""The MongoDB client of one worker process, bound to that process's one event loop.

A Motor client belongs to the loop it was created on; using it from another loop fails with
"attached to a different loop" or "Event loop is closed" (mongomock-motor hides this because it
does no I/O). `Store` therefore creates its client inside the loop that serves requests (see
api/serving.py for which loop that is) and refuses to be used from any other loop.

The storage modules are the only ones that import the driver: this one (the client), crud.py
(users), history.py and stats.py (versions, insights), idempotency.py (Idempotency-Key
records) and counters.py (rate-limit counters); and memstore.py, which is mongomock. They use
PyMongo's API (errors, ReturnDocument, IndexModel), which PyMongo's `AsyncMongoClient` keeps,
so moving from Motor to it (Motor's end of life: May 2026, critical fixes until May 2027)
changes the client made here.

Also here, for the app (as flaskr's db.py): `init_app` makes a Store the app's, and
`current_store()` is the store of the request being handled.
"""

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import flask
import pymongo
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import ConnectionFailure, PyMongoError
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from api.memstore import IndexedMongoClient

log = logging.getLogger(__name__)

USERS = "users"
IDEMPOTENCY_KEYS = "idempotency_keys"
RATE_LIMITS = "rate_limits"
USER_VERSIONS = "user_versions"

# Longest a close() may take (see Store.close); shutdown waits for it after GRACEFUL_TIMEOUT.
CLOSE_TIMEOUT_S = 1.0

# Live users hold `email_key`; users in the trash hold `deleted_email_key` instead (crud.py),
# so the unique index counts the live ones only. It replaces LEGACY_EMAIL_INDEX, which counted
# every document (a second user in the trash would have collided on the missing key).
EMAIL_INDEX = "email_key_live_unique"
LEGACY_EMAIL_INDEX = "email_key_unique"
LIVE = {"email_key": {"$exists": True}}

# Every query crud.py issues is served by one of these (README, "Indexes").
USER_INDEXES = [
    IndexModel(
        [("email_key", ASCENDING)], unique=True, partialFilterExpression=LIVE, name=EMAIL_INDEX
    ),
    IndexModel([("created_at", ASCENDING), ("_id", ASCENDING)], name="created_at_id"),
    IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name_id"),
    IndexModel([("role", ASCENDING), ("created_at", DESCENDING)], name="role_created_at"),
    IndexModel([("skills", ASCENDING)], name="skills"),
    IndexModel([("active", ASCENDING)], name="active"),
    IndexModel([("experience.companies", ASCENDING)], name="companies"),
    IndexModel([("experience.years", ASCENDING)], name="years"),
]


def trash_indexes(ttl_seconds: int) -> list[IndexModel]:
    # MongoDB deletes a user ttl_seconds after it went to the trash (within about a minute);
    # the index holds the trash only, and serves its list. Changing the TTL of an existing
    # deployment needs the old index dropped first.
    trash = {"deleted_at": {"$exists": True}}
    return [
        IndexModel(
            [("deleted_at", ASCENDING)],
            name="trash_ttl",
            expireAfterSeconds=ttl_seconds,
            partialFilterExpression=trash,
        )
    ]


# A user's versions, newest first (api/history.py); `expire_at` is set on the versions of a
# user in the trash, so that they go when the user does.
VERSION_INDEXES = [
    IndexModel([("user_id", ASCENDING), ("version", DESCENDING)], unique=True, name="user_version"),
    IndexModel([("expire_at", ASCENDING)], name="ttl", expireAfterSeconds=0),
]


def idempotency_indexes(ttl_seconds: int) -> list[IndexModel]:
    # MongoDB deletes a key's record ttl_seconds after its creation (within about a minute).
    # Changing the TTL of an existing deployment needs the old index dropped first.
    return [IndexModel([("created_at", ASCENDING)], name="ttl", expireAfterSeconds=ttl_seconds)]


# A rate-limit counter is deleted once its `expire_at` has passed (api/counters.py).
RATE_LIMIT_INDEXES = [IndexModel([("expire_at", ASCENDING)], name="ttl", expireAfterSeconds=0)]


class DatabaseUnavailable(Exception):
    """MongoDB did not answer within the configured timeout, or the connection failed."""


P = ParamSpec("P")
T = TypeVar("T")


@contextlib.contextmanager
def _unavailable_on_driver_failure() -> Iterator[None]:
    """Turn the driver's connection and timeout errors into DatabaseUnavailable."""
    try:
        yield
    except PyMongoError as error:
        if isinstance(error, ConnectionFailure) or error.timeout:
            raise DatabaseUnavailable(type(error).__name__) from error
        raise


def storage_operation(
    func: Callable[Concatenate["Store", P], Awaitable[T]],
) -> Callable[Concatenate["Store", P], Awaitable[T]]:
    """Turn the driver's connection and timeout errors into DatabaseUnavailable, and report the
    operation's time to the store's `observe_operation`.

    The first argument is the Store operated on. An operation never calls another one (the
    time of each would be counted twice).
    """

    @functools.wraps(func)
    async def wrapper(store: "Store", /, *args: P.args, **kwargs: P.kwargs) -> T:
        started = time.perf_counter()
        try:
            with _unavailable_on_driver_failure():
                return await func(store, *args, **kwargs)
        finally:
            if store.observe_operation is not None:
                store.observe_operation(time.perf_counter() - started)

    return wrapper


def now() -> datetime:
    """The current UTC time, truncated to what MongoDB keeps (milliseconds), so that a value
    returned is the value stored."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """A datetime read back from the store, UTC-aware (the embedded store returns naive ones)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# A collection of the client: Motor's, or mongomock-motor's with the same methods.
Collection = AsyncIOMotorCollection[dict[str, Any]]
CommandObserver = Callable[[str, float, bool], None]
OperationObserver = Callable[[float], None]


class _CommandMonitor(CommandListener):
    """PyMongo command monitoring: every command's name, duration and outcome to `observe`.

    Called on the driver's threads. mongomock runs no commands, so it reports nothing.
    """

    def __init__(self, observe: CommandObserver) -> None:
        self.observe = observe

    def started(self, event: CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: CommandSucceededEvent) -> None:
        self.observe(event.command_name, event.duration_micros / 1e6, False)

    def failed(self, event: CommandFailedEvent) -> None:
        self.observe(event.command_name, event.duration_micros / 1e6, True)


class Store:
    """The collections of one MongoDB database, reached through one client.

    With `uri=None` the store is an in-memory mongomock database (api/memstore.py): nothing is
    persisted and each process has its own data. `observe_command` is told each MongoDB
    command's name, duration and outcome (PyMongo command monitoring: not with the in-memory
    store, which runs no commands); `observe_operation` each storage operation's duration.
    """

    def __init__(
        self,
        *,
        uri: str | None,
        database: str,
        timeout_ms: int,
        idempotency_ttl_seconds: int = 86_400,
        history_max_versions: int = 50,
        trash_ttl_seconds: int = 2_592_000,
        observe_command: CommandObserver | None = None,
        observe_operation: OperationObserver | None = None,
    ) -> None:
        self.uri = uri
        self.observe_command = observe_command
        self.observe_operation = observe_operation
        self.database = database
        self.timeout_ms = timeout_ms
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.history_max_versions = history_max_versions  # 0: no history is kept
        self.trash_ttl_seconds = trash_ttl_seconds
        self._client: Any = None
        self._collections: dict[str, Collection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._indexes_ready = False

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        observe_command: CommandObserver | None = None,
        observe_operation: OperationObserver | None = None,
    ) -> "Store":
        """The store the settings (api/config.py) describe."""
        return cls(
            uri=config["MONGODB_URI"],
            database=config["MONGODB_DB"],
            timeout_ms=config["MONGODB_TIMEOUT_MS"],
            idempotency_ttl_seconds=config["IDEMPOTENCY_TTL_SECONDS"],
            history_max_versions=config["HISTORY_MAX_VERSIONS"],
            trash_ttl_seconds=config["TRASH_TTL_SECONDS"],
            observe_command=observe_command,
            observe_operation=observe_operation,
        )

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
            # Not tz_aware: mongomock would then convert every document it copies, which is
            # most of a list's cost; crud makes the datetimes it returns UTC-aware anyway.
            self._client = AsyncMongoMockClient(mock_mongo_client=IndexedMongoClient())
        else:
            self._client = AsyncIOMotorClient(
                self.uri,
                io_loop=self._loop,
                tz_aware=True,
                appname="users-api",
                timeoutMS=self.timeout_ms,
                serverSelectionTimeoutMS=self.timeout_ms,
                connectTimeoutMS=self.timeout_ms,
                event_listeners=[_CommandMonitor(self.observe_command)]
                if self.observe_command
                else [],
            )
        try:
            await self._ensure_indexes()
        except DatabaseUnavailable:
            log.warning("MongoDB is unavailable at start-up; indexes will be created later")

    async def users(self) -> Collection:
        """Return the users collection, opening the store on first use."""
        return await self._collection(USERS)

    async def idempotency_keys(self) -> Collection:
        """Return the collection of Idempotency-Key records, opening the store on first use."""
        return await self._collection(IDEMPOTENCY_KEYS)

    async def user_versions(self) -> Collection:
        """Return the collection of users' versions (api/history.py), opening the store."""
        return await self._collection(USER_VERSIONS)

    async def rate_limits(self) -> Collection:
        """Return the collection of rate-limit counters, opening the store on first use."""
        return await self._collection(RATE_LIMITS)

    async def _collection(self, name: str) -> Collection:
        if self._client is None:
            await self.open()
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("the store is bound to another event loop")
        if not self._indexes_ready:
            await self._ensure_indexes()
        collection = self._collections.get(name)
        if collection is None:
            # Made once per client: the drivers build a new wrapper on every lookup.
            collection = self._collections[name] = self._client[self.database][name]
        return collection

    @storage_operation
    async def ping(self) -> None:
        """Return when MongoDB answers a ping; raise DatabaseUnavailable otherwise."""
        if self._client is None:
            await self.open()
        await self._client[self.database].command("ping")
        if not self._indexes_ready:
            await self._ensure_indexes()

    async def _ensure_indexes(self) -> None:
        # create_indexes is not bounded by the client's timeoutMS (its retry spends a second
        # server selection timeout); pymongo.timeout bounds it, and Motor carries it over.
        # Not a storage_operation: it runs inside the one that needs the indexes.
        database = self._client[self.database]
        with _unavailable_on_driver_failure(), pymongo.timeout(self.timeout_ms / 1000):
            users = database[USERS]
            if LEGACY_EMAIL_INDEX in await users.index_information():
                await users.drop_index(LEGACY_EMAIL_INDEX)
            await users.create_indexes([*USER_INDEXES, *trash_indexes(self.trash_ttl_seconds)])
            await database[USER_VERSIONS].create_indexes(VERSION_INDEXES)
            await database[IDEMPOTENCY_KEYS].create_indexes(
                idempotency_indexes(self.idempotency_ttl_seconds)
            )
            await database[RATE_LIMITS].create_indexes(RATE_LIMIT_INDEXES)
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
        self._collections = {}
        self._loop = None
        self._indexes_ready = False


def init_app(app: flask.Flask, store: Store) -> None:
    """Make `store` the app's: what current_store() returns while it handles a request."""
    app.extensions["store"] = store


def current_store() -> Store:
    """The store of the app handling the current request."""
    store: Store = flask.current_app.extensions["store"]
    return store
