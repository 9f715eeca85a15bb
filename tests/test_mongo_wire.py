"""The wire-protocol test server itself, driven by PyMongo's own client over TCP."""

from collections.abc import Iterator

import pymongo
import pytest
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from tests.mongo_wire import WireServer


@pytest.fixture
def client(wire: WireServer) -> Iterator[pymongo.MongoClient]:
    client: pymongo.MongoClient = pymongo.MongoClient(wire.uri, timeoutMS=1000)
    yield client
    client.close()


def test_a_duplicate_key_is_mongodbs_error_11000(client: pymongo.MongoClient) -> None:
    users = client.db.users
    users.create_index("email", unique=True, name="email_unique")
    users.insert_one({"email": "a@example.com"})

    with pytest.raises(DuplicateKeyError) as raised:
        users.insert_one({"email": "a@example.com"})

    assert raised.value.code == 11000
    assert [index["name"] for index in users.list_indexes()] == ["_id_", "email_unique"]


def test_long_results_come_in_batches(wire: WireServer, client: pymongo.MongoClient) -> None:
    client.db.users.insert_many([{"n": n} for n in range(7)])

    found = [document["n"] for document in client.db.users.find(sort=[("n", -1)], skip=1)]

    assert found == [5, 4, 3, 2, 1, 0]
    assert wire.received["getmore"] == 1
    assert client.db.users.count_documents({"n": {"$gte": 3}}) == 4


def test_stop_and_start_keep_the_port_and_the_data(
    wire: WireServer, client: pymongo.MongoClient
) -> None:
    client.db.users.insert_one({"name": "kept"})
    port = wire.port

    wire.stop()
    with pytest.raises(ConnectionFailure):
        client.db.users.find_one({})
    wire.start()

    assert wire.port == port
    assert client.db.users.find_one({}, {"_id": 0}) == {"name": "kept"}
    assert [document["name"] for document in wire.documents("db")] == ["kept"]


def test_close_is_answered_so_it_does_not_hang(wire: WireServer) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(wire.uri, timeoutMS=1000)
    client.db.users.find_one({})

    client.close()

    assert wire.received["endsessions"] == 1
