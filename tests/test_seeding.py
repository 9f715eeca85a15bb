"""Realistic users for a database."""

import pytest

from api import crud
from api.db import Store
from api.schemas import UserSchema
from api.seeding import fake_users, seed_users
from tests.live_server import run_module


def test_fake_users_are_valid_distinct_and_reproducible() -> None:
    users = list(fake_users(300, seed=7))

    for user in users:
        assert UserSchema().validate(user) == {}
    assert len({user["email"] for user in users}) == 300
    assert users == list(fake_users(300, seed=7))
    assert users != list(fake_users(300, seed=8))


@pytest.mark.asyncio
async def test_seeding_stores_the_users_once(store: Store) -> None:
    progress: list[int] = []

    assert await seed_users(store, 120, batch_size=50, progress=progress.append) == (120, 0)
    assert progress == [50, 50, 20]
    assert await seed_users(store, 120, batch_size=50) == (0, 120)
    assert (await crud.list_users(store))["total"] == 120


def test_seeding_needs_a_database_url() -> None:
    result = run_module("api", "seed", "--users", "5")

    assert result.returncode == 2
    assert "set MONGODB_URI" in result.stderr
