"""getUserStats over HTTP on both tiers (real_driver), and its one aggregation."""

from typing import Any

import mongomock
import pytest
from flask.testing import FlaskClient

from api import crud, stats
from tests.conftest import assert_problem, create
from tests.mongo_wire import WireServer

STATS = "/api/v1/users/stats"


def people(client: FlaskClient) -> list[dict[str, Any]]:
    users = [
        create(client, email="a@example.com", role="SRE", skills=["Go", "AWS"],
               experience={"years": 1, "companies": ["Acme"]}),
        create(client, email="b@example.com", role="SRE", skills=["Go"],
               experience={"years": 4, "companies": ["Acme", "Initech"]}, active=False),
        create(client, email="c@example.com", role="Dev", skills=["Rust", "Go"],
               experience={"years": 30, "companies": []}),
    ]  # fmt: skip
    bare = {"name": "D", "email": "d@example.com", "skills": ["AWS"]}  # no role, no experience
    users.append(client.post("/api/v1/users", json=bare).json)
    gone = create(client, email="e@example.com", role="SRE", skills=["Go"])
    client.delete(f"/api/v1/users/{gone['id']}")  # the trash is not described
    return users


@pytest.mark.real_driver
def test_stats_count_the_live_users(
    client: FlaskClient, backend: str, request: pytest.FixtureRequest
) -> None:
    people(client)

    response = client.get(STATS)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["total"] == 4
    assert body["roles"] == [
        {"value": "SRE", "count": 2},
        {"value": None, "count": 1},
        {"value": "Dev", "count": 1},
    ]
    assert body["skills"] == [
        {"value": "Go", "count": 3},
        {"value": "AWS", "count": 2},
        {"value": "Rust", "count": 1},
    ]
    assert body["companies"] == [{"value": "Acme", "count": 2}, {"value": "Initech", "count": 1}]
    assert [(bucket["label"], bucket["count"]) for bucket in body["experience"]] == [
        ("0-1", 1),
        ("2-4", 1),
        ("5-9", 0),
        ("10-19", 0),
        ("20+", 1),
        ("unknown", 1),
    ]
    assert body["activity"] == {"active": 3, "inactive": 1}
    month = body["signups"][0]["month"]
    assert body["signups"] == [{"month": month, "count": 4}]
    assert len(month) == 7
    assert month[4] == "-"
    if backend == "wire":
        # What the real driver sent: the one $match + $facet pipeline real MongoDB runs.
        wire: WireServer = request.getfixturevalue("wire_server")
        sent = wire.pipelines[-1]
        assert sent == stats.pipeline(crud.filter_query({}), 10)
        assert list(sent[0]) == ["$match"]
        assert list(sent[1]) == ["$facet"]
        assert len(sent) == 2


@pytest.mark.real_driver
def test_stats_take_the_filters_of_the_list(
    client: FlaskClient, backend: str, request: pytest.FixtureRequest
) -> None:
    people(client)

    sre = client.get(STATS, query_string={"role": "SRE", "top": 1}).json
    go_and_aws = client.get(STATS, query_string=[("skill", "Go"), ("skill", "AWS")]).json
    inactive = client.get(STATS, query_string={"active": "false", "min_years": 2}).json

    assert sre["total"] == 2
    assert sre["skills"] == [{"value": "Go", "count": 2}]  # top 1
    assert go_and_aws["total"] == 1
    assert inactive["total"] == 1
    assert inactive["companies"] == [
        {"value": "Acme", "count": 1},
        {"value": "Initech", "count": 1},
    ]
    if backend == "wire":
        wire: WireServer = request.getfixturevalue("wire_server")
        match = wire.pipelines[-1][0]["$match"]
        assert match == crud.filter_query({"active": False, "min_years": 2})


def test_stats_refuse_what_the_list_refuses(client: FlaskClient) -> None:
    assert_problem(client.get(STATS, query_string={"top": 51}), 422, "validation_failed")
    assert_problem(client.get(STATS, query_string={"top": 0}), 422, "validation_failed")
    assert_problem(client.get(STATS, query_string={"page": 1}), 422, "validation_failed")
    assert_problem(client.get(STATS, query_string={"deleted": "true"}), 422, "validation_failed")
    ranges = {"min_years": 5, "max_years": 2}
    assert_problem(client.get(STATS, query_string=ranges), 400, "invalid_query")
    assert_problem(client.post(STATS, json={}), 405, "method_not_allowed")


def test_an_empty_directory_has_every_bucket_empty(client: FlaskClient) -> None:
    body = client.get(STATS).json

    assert body["total"] == 0
    assert [bucket["count"] for bucket in body["experience"]] == [0] * 6
    assert body["activity"] == {"active": 0, "inactive": 0}
    assert body["roles"] == body["skills"] == body["signups"] == []


def test_the_pipeline_is_bounded_by_top_and_months() -> None:
    facets = stats.pipeline({}, 7)[1]["$facet"]

    for ranking in ("roles", "skills", "companies"):
        assert facets[ranking][-1] == {"$limit": 7}
    assert facets["signups"][-1] == {"$limit": stats.MONTHS}


def test_mongomock_lacks_sort_by_count_so_the_pipeline_groups_and_sorts() -> None:
    # If mongomock gains $sortByCount, api/stats.py's docstring and the README can say so.
    collection: Any = mongomock.MongoClient().db.users
    collection.insert_one({"role": "SRE"})
    with pytest.raises(NotImplementedError):
        list(collection.aggregate([{"$sortByCount": "$role"}]))
