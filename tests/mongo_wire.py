"""A MongoDB server for tests: the real wire protocol over TCP, the data in mongomock.

No `mongod` can be installed on these machines. mockupdb (PyPI) speaks MongoDB's wire protocol
over a real socket, so the service's real Motor client connects, handshakes, pools, times out
and reconnects exactly as against MongoDB; this module answers each command it receives by
running it on a mongomock database, with MongoDB's reply shapes and error codes (a duplicate
key is `writeErrors` code 11000, so the driver raises DuplicateKeyError). The data outlives the
server: `stop()` and `start()` simulate an outage on the same port, and tests read what was
really stored through `documents()`.

The traps (DESIGN.md 3.8, research/ecosystem-tools.md 5): PyMongo 4.20 refuses a server that
advertises a wire version below 9; it sends the handshake as `ismaster`/`hello` in OP_MSG; and
`endSessions` (sent by `client.close()`) must be answered or the close blocks forever.
mockupdb runs every responder under one lock, so replies delayed by `delay` are sent from
timer threads: a slow server then serves many connections at once, as MongoDB does.
"""

import argparse
import contextlib
import itertools
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import mongomock
from bson import Int64
from mockupdb import MockupDB, Request
from pymongo.errors import DuplicateKeyError, OperationFailure

HELLO = {
    "ismaster": True,
    "isWritablePrimary": True,
    "helloOk": True,
    "minWireVersion": 0,
    "maxWireVersion": 21,  # MongoDB 7.0; PyMongo 4.20 needs at least 9
    "maxBsonObjectSize": 16 * 1024 * 1024,
    "maxMessageSizeBytes": 48_000_000,
    "maxWriteBatchSize": 100_000,
    "logicalSessionTimeoutMinutes": 30,
    "readOnly": False,
}
HANDSHAKES = {"hello", "ismaster"}

# MongoDB's codes for the errors this server reports.
COMMAND_NOT_FOUND = 59
BAD_VALUE = 2
CURSOR_NOT_FOUND = 43

Reply = dict[str, Any]


class _MockupDB(MockupDB):  # type: ignore[misc]  # mockupdb is untyped: its base is Any
    """mockupdb's server, stopping at once instead of within its accept loop's 1 s poll."""

    def stop(self) -> None:
        self._stopped = True
        # Wakes the accept loop's select(); accept() then fails and the loop ends.
        with contextlib.suppress(OSError):
            self._listening_sock.shutdown(socket.SHUT_RDWR)
        super().stop()

    def _accept_loop(self) -> None:
        try:
            super()._accept_loop()
        except (OSError, ValueError):  # the listening socket is shut down or closed
            if not self._stopped:
                raise


class WireServer:
    """A MongoDB standalone on 127.0.0.1 for real drivers, backed by mongomock.

    `start()` binds (a free port the first time, the same port afterwards); `stop()` closes the
    listening socket and every client connection, keeping the data. `delay` seconds are spent
    before each reply except the handshake. `received` counts the commands by name.
    """

    def __init__(self, *, first_batch_size: int = 2) -> None:
        # A first batch smaller than MongoDB's 101 makes every longer result use getMore.
        self.first_batch_size = first_batch_size
        self.delay = 0.0
        self.received: Counter[str] = Counter()
        self.pipelines: list[list[Reply]] = []  # every aggregate's pipeline, as received
        # Called with each command's name and document: "before" or "after" stops the server
        # mid-write (once), without an answer, before or after the command is applied.
        self.interrupt: Callable[[str, Reply], str | None] | None = None
        self.port: int | None = None
        self._data: Any = mongomock.MongoClient()
        self._lock = threading.Lock()
        self._cursors: dict[int, list[Reply]] = {}
        self._cursor_ids = itertools.count(1)
        self._server: MockupDB | None = None
        self._commands: dict[str, Callable[[str, Reply], Reply]] = {
            "ping": lambda _db, _cmd: {},
            "endsessions": lambda _db, _cmd: {},
            "insert": self._insert,
            "update": self._update,
            "delete": self._delete,
            "find": self._find,
            "getmore": self._get_more,
            "killcursors": self._kill_cursors,
            "findandmodify": self._find_and_modify,
            "aggregate": self._aggregate,
            "count": self._count,
            "createindexes": self._create_indexes,
            "listindexes": self._list_indexes,
            "dropindexes": self._drop_indexes,
            "dropdatabase": self._drop_database,
        }

    @property
    def uri(self) -> str:
        assert self.port is not None, "start() the server first"
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        server = _MockupDB(port=self.port)
        server.autoresponds(self._respond)
        self.port = server.run()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "WireServer":
        """Started for the `with` block, stopped after it (what every fixture of it does)."""
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def documents(self, database: str, collection: str = "users") -> list[Reply]:
        """What is stored, in _id order (copies)."""
        with self._lock:
            return list(self._data[database][collection].find({}, sort=[("_id", 1)]))

    # --- dispatch ------------------------------------------------------------------------

    def _respond(self, request: Request) -> bool:
        name = request.command_name.lower()
        self.received[name] += 1
        command = request.doc
        if name in HANDSHAKES:
            reply = {**HELLO, "localTime": datetime.now(UTC), "ok": 1}
            self._send(request, reply, delay=0)
            return True
        handler = self._commands.get(name)
        moment = self.interrupt(name, command) if self.interrupt is not None else None
        if moment == "before":
            return self._go_away()
        with self._lock:
            if handler is None:
                reply = _error(COMMAND_NOT_FOUND, f"no such command: '{request.command_name}'")
            else:
                try:
                    reply = {**handler(command["$db"], command), "ok": 1}
                except OperationFailure as error:
                    reply = _error(error.code or BAD_VALUE, str(error))
        if moment == "after":
            return self._go_away()
        self._send(request, reply, delay=self.delay)
        return True

    def _go_away(self) -> bool:
        """Stop answering at once, as a server that crashed: the request gets no reply."""
        self.interrupt = None
        threading.Thread(target=self.stop, daemon=True).start()
        return True

    def _send(self, request: Request, reply: Reply, *, delay: float) -> None:
        def send() -> None:
            # OSError: the client left, or stop() closed the connection.
            with contextlib.suppress(OSError):
                request.replies(reply)

        if delay > 0:
            threading.Timer(delay, send).start()
        else:
            send()

    # --- commands ------------------------------------------------------------------------

    def _collection(self, database: str, name: str) -> Any:
        return self._data[database][name]

    def _insert(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["insert"])
        inserted = 0
        errors = []
        for index, document in enumerate(command["documents"]):
            try:
                collection.insert_one(document)
                inserted += 1
            except OperationFailure as error:
                errors.append(_write_error(index, error, database, command["insert"]))
                if command.get("ordered", True):
                    break
        return _write_result(inserted, errors)

    def _update(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["update"])
        matched = modified = 0
        upserted = []
        errors = []
        for index, statement in enumerate(command["updates"]):
            query, change = statement["q"], statement["u"]
            upsert = statement.get("upsert", False)
            try:
                if not _is_operator_update(change):
                    result = collection.replace_one(query, change, upsert=upsert)
                elif statement.get("multi", False):
                    result = collection.update_many(query, change, upsert=upsert)
                else:
                    result = collection.update_one(query, change, upsert=upsert)
            except OperationFailure as error:
                errors.append(_write_error(index, error, database, command["update"]))
                if command.get("ordered", True):
                    break
                continue
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})
        reply = _write_result(matched + len(upserted), errors)
        reply["nModified"] = modified
        if upserted:
            reply["upserted"] = upserted
        return reply

    def _delete(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["delete"])
        deleted = 0
        for statement in command["deletes"]:
            if statement.get("limit", 0) == 1:
                deleted += collection.delete_one(statement["q"]).deleted_count
            else:
                deleted += collection.delete_many(statement["q"]).deleted_count
        return {"n": deleted}

    def _find(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["find"])
        cursor = collection.find(
            command.get("filter", {}),
            command.get("projection"),
            skip=command.get("skip", 0),
            limit=abs(command.get("limit", 0)),
        )
        if command.get("sort"):
            cursor = cursor.sort(list(command["sort"].items()))
        return self._first_batch(database, command["find"], list(cursor), command)

    def _aggregate(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["aggregate"])
        self.pipelines.append(command["pipeline"])
        documents = list(collection.aggregate(command["pipeline"]))
        options = {**command, **command.get("cursor", {})}
        return self._first_batch(database, command["aggregate"], documents, options)

    def _first_batch(
        self, database: str, collection: str, documents: list[Reply], options: Reply
    ) -> Reply:
        size = options.get("batchSize") or self.first_batch_size
        if options.get("singleBatch"):
            size = len(documents)
        cursor_id = 0
        if len(documents) > size:
            cursor_id = next(self._cursor_ids)
            self._cursors[cursor_id] = documents[size:]
        return {
            "cursor": {
                "id": Int64(cursor_id),
                "ns": f"{database}.{collection}",
                "firstBatch": documents[:size],
            }
        }

    def _get_more(self, database: str, command: Reply) -> Reply:
        cursor_id = int(command["getMore"])
        if cursor_id not in self._cursors:
            raise OperationFailure(f"cursor id {cursor_id} not found", CURSOR_NOT_FOUND)
        rest = self._cursors.pop(cursor_id)
        size = command.get("batchSize") or len(rest)
        if len(rest) > size:
            self._cursors[cursor_id] = rest[size:]
        else:
            cursor_id = 0
        return {
            "cursor": {
                "id": Int64(cursor_id),
                "ns": f"{database}.{command['collection']}",
                "nextBatch": rest[:size],
            }
        }

    def _kill_cursors(self, _database: str, command: Reply) -> Reply:
        killed = [cursor_id for cursor_id in command["cursors"] if cursor_id in self._cursors]
        for cursor_id in killed:
            del self._cursors[int(cursor_id)]
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": []}

    def _find_and_modify(self, database: str, command: Reply) -> Reply:
        name = command.get("findAndModify") or command["findandmodify"]
        collection = self._collection(database, name)
        query = command.get("query", {})
        options = {"projection": command.get("fields"), "sort": _sort(command.get("sort"))}
        if command.get("remove"):
            value = collection.find_one_and_delete(query, **options)
            return {"lastErrorObject": {"n": int(value is not None)}, "value": value}
        change = command["update"]
        update = (
            collection.find_one_and_update
            if _is_operator_update(change)
            else collection.find_one_and_replace
        )
        before = collection.find_one(query, sort=options["sort"])
        try:
            value = update(
                query,
                change,
                upsert=command.get("upsert", False),
                return_document=bool(command.get("new", False)),
                **options,
            )
        except DuplicateKeyError as error:
            raise OperationFailure(_duplicate_message(database, name, error), 11000) from None
        found = before is not None
        last_error: Reply = {"n": int(found or command.get("upsert", False))}
        last_error["updatedExisting"] = found
        return {"lastErrorObject": last_error, "value": value}

    def _count(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["count"])
        return {"n": collection.count_documents(command.get("query", {}))}

    def _create_indexes(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["createIndexes"])
        existing = collection.index_information()
        before = len(existing)
        for index in command["indexes"]:
            options = {key: value for key, value in index.items() if key != "key"}
            stored = existing.get(index["name"])
            if stored is not None and _same_index(stored, index):
                continue  # as MongoDB: no-op (mongomock would check every document again)
            collection.create_index(list(index["key"].items()), **options)
        return {
            "createdCollectionAutomatically": before == 0,
            "numIndexesBefore": max(before, 1),
            "numIndexesAfter": len(collection.index_information()),
        }

    def _list_indexes(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["listIndexes"])
        indexes = list(collection.list_indexes())
        return self._first_batch(database, command["listIndexes"], indexes, command)

    def _drop_indexes(self, database: str, command: Reply) -> Reply:
        collection = self._collection(database, command["dropIndexes"])
        before = len(collection.index_information())
        collection.drop_index(command["index"])
        return {"nIndexesWas": before}

    def _drop_database(self, database: str, _command: Reply) -> Reply:
        self._data.drop_database(database)
        return {"dropped": database}


def _same_index(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether an index of index_information() is the one a createIndexes entry describes."""
    options = {key: value for key, value in stored.items() if key not in ("v", "key")}
    asked = {key: value for key, value in wanted.items() if key not in ("key", "name")}
    return list(stored["key"]) == list(wanted["key"].items()) and options == asked


def _is_operator_update(change: Mapping[str, Any] | list[Any]) -> bool:
    # An update pipeline (a list of stages) is applied by mongomock's update methods too.
    return isinstance(change, list) or any(key.startswith("$") for key in change)


def _sort(sort: Mapping[str, int] | None) -> list[tuple[str, int]] | None:
    return list(sort.items()) if sort else None


def _duplicate_message(database: str, collection: str, error: OperationFailure) -> str:
    return f"E11000 duplicate key error collection: {database}.{collection} ({error})"


def _write_error(index: int, error: OperationFailure, database: str, collection: str) -> Reply:
    if isinstance(error, DuplicateKeyError):
        return {
            "index": index,
            "code": 11000,
            "errmsg": _duplicate_message(database, collection, error),
        }
    return {"index": index, "code": error.code or BAD_VALUE, "errmsg": str(error)}


def _write_result(count: int, errors: list[Reply]) -> Reply:
    reply: Reply = {"n": count}
    if errors:
        reply["writeErrors"] = errors
    return reply


def _error(code: int, message: str) -> Reply:
    return {"ok": 0, "code": code, "errmsg": message}


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.mongo_wire --port N`: serve until interrupted, for MONGODB_URI mode
    without a MongoDB (data in memory, lost at exit)."""
    parser = argparse.ArgumentParser(prog="python -m tests.mongo_wire", description=main.__doc__)
    parser.add_argument("--port", type=int, default=27017, help="TCP port on 127.0.0.1")
    port = parser.parse_args(argv).port
    server = WireServer()
    server.port = port
    try:
        server.start()
    except OSError as error:
        sys.stderr.write(f"mongo_wire: cannot listen on 127.0.0.1:{port}: {error}\n")
        return 1
    sys.stdout.write(f"MongoDB wire-protocol test server: MONGODB_URI={server.uri}\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
