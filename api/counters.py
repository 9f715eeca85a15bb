"""Counters for the rate limiter (api/limits.py): in this process's memory, or in MongoDB.

A counter is a number under a key, created at zero by its first addition and dropped some time
after the moment given with it, when the limiter uses its key no more. `MemoryCounters` keeps
them in a dict: no I/O, but each process counts alone. `MongoCounters` keeps them in the
`rate_limits` collection of the Store's database, so every instance on that database counts
together: each addition is a findAndModify (an atomic `$inc`, upserted), the reads one find,
all sent at once and awaited on the serving loop. A TTL index on `expire_at` (api/db.py) deletes
the counters no longer needed.
"""

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from pymongo import ReturnDocument

from api.db import Store, storage_operation


class Counters(Protocol):
    async def count(
        self, *, add: Mapping[str, float], amount: int, get: Sequence[str] = ()
    ) -> tuple[list[int], list[int]]:
        """Add `amount` to the counters of `add` (key -> when it may be dropped, a Unix time)
        and read those of `get` (0 for an unknown key), at once.

        Return the counts of `add` after the addition and those of `get`, in their orders.
        """
        ...


class MemoryCounters:
    """Counters in a dict, swept of the droppable ones at most once per SWEEP_SECONDS."""

    SWEEP_SECONDS = 10.0

    def __init__(self) -> None:
        self._counts: dict[str, list[float]] = {}  # key -> [count, droppable after]
        self._next_sweep = time.time() + self.SWEEP_SECONDS

    async def count(
        self, *, add: Mapping[str, float], amount: int, get: Sequence[str] = ()
    ) -> tuple[list[int], list[int]]:
        now = time.time()
        if now >= self._next_sweep:
            self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
            self._next_sweep = now + self.SWEEP_SECONDS
        added = []
        for key, drop_after in add.items():
            entry = self._counts.setdefault(key, [0, drop_after])
            entry[0] += amount
            added.append(int(entry[0]))
        return added, [int(self._counts[key][0]) if key in self._counts else 0 for key in get]


class MongoCounters:
    """Counters in MongoDB, shared by every process using the same database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @storage_operation
    async def count(
        self, *, add: Mapping[str, float], amount: int, get: Sequence[str] = ()
    ) -> tuple[list[int], list[int]]:
        collection = await self.store.rate_limits()

        async def read() -> list[int]:
            if not get:
                return []
            found = {
                document["_id"]: document["count"]
                async for document in collection.find({"_id": {"$in": list(get)}}, {"count": 1})
            }
            return [found.get(key, 0) for key in get]

        *documents, read_counts = await asyncio.gather(
            *(
                collection.find_one_and_update(
                    {"_id": key},
                    {
                        "$inc": {"count": amount},
                        "$setOnInsert": {"expire_at": datetime.fromtimestamp(drop_after, UTC)},
                    },
                    projection={"count": True},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                for key, drop_after in add.items()
            ),
            read(),
        )
        return [document["count"] for document in documents], read_counts


def for_store(store: Store, storage: str | None) -> Counters:
    """The counters RATE_LIMIT_STORAGE names: `memory`, or `mongodb` in the store's database;
    None picks `mongodb` unless the store is the embedded one."""
    if storage == "memory" or (storage is None and store.embedded):
        return MemoryCounters()
    return MongoCounters(store)
