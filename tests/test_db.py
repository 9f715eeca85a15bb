"""The store (api/db.py): one loop, its settings, and what it reports of each operation."""

import asyncio

import pytest

from api import create_app, crud
from api.config import load_config
from api.db import Store, current_store
from tests.conftest import course_user


def test_a_store_refuses_a_loop_other_than_the_one_it_opened_on() -> None:
    # Motor binds a client to its first loop; used from another it would fail obscurely.
    store = Store(uri=None, database="test", timeout_ms=1000)
    try:
        asyncio.run(store.open())
        with pytest.raises(RuntimeError, match="bound to another event loop"):
            asyncio.run(store.users())
    finally:
        store.close()

    asyncio.run(store.open())  # once closed, it opens again, on the loop at hand
    store.close()


def test_the_store_is_built_from_the_settings() -> None:
    config = load_config(
        {"MONGODB_URI": "mongodb://db.example:27017", "MONGODB_DB": "people",
         "MONGODB_TIMEOUT_MS": "750", "IDEMPOTENCY_TTL_SECONDS": "60"}
    )  # fmt: skip
    store = Store.from_config(config)
    assert (store.uri, store.database, store.timeout_ms, store.idempotency_ttl_seconds) == (
        "mongodb://db.example:27017",
        "people",
        750,
        60,
    )
    assert not store.embedded


def test_the_app_s_store_is_the_current_one_in_its_requests() -> None:
    app = create_app({})
    with app.test_request_context("/"):
        assert current_store() is app.extensions["store"]


@pytest.mark.asyncio
async def test_each_operation_reports_its_time_once() -> None:
    timings: list[float] = []
    store = Store(uri=None, database="test", timeout_ms=1000, observe_operation=timings.append)
    try:
        # The first operation opens the store and creates the indexes: one operation still.
        user = await crud.create_user(store, data=course_user())
        await crud.get_user(store, user_id=user["id"])
        await store.ping()
    finally:
        store.close()

    assert len(timings) == 3
    assert all(seconds >= 0 for seconds in timings)
