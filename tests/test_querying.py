"""listUsers beyond paging by number: typed filters, cursors, sparse fieldsets, and
injection attempts that must be refused or taken literally."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from api import cursors
from tests.conftest import USERS, assert_problem, create


def ids(client: FlaskClient, query: str) -> list[str]:
    response = client.get(f"{USERS}?{query}")
    assert response.status_code == 200, response.json
    return [user["id"] for user in response.json["items"]]


@pytest.fixture
def people(client: FlaskClient) -> dict[str, dict[str, Any]]:
    return {
        "ada": create(
            client,
            name="Ada Lovelace",
            email="ada@example.com",
            skills=["Math", "Python"],
            experience={"years": 12, "companies": ["Analytical Engines"]},
        ),
        "bob": create(
            client,
            name="Bob",
            email="bob@example.org",
            skills=["Python"],
            experience={"years": 3, "companies": ["Acme", "Analytical Engines"]},
        ),
        "eve": create(
            client, name="Eve (.*)", email="eve@example.net", skills=["Go"], experience={"years": 0}
        ),
    }


def test_skill_can_be_repeated_and_every_one_must_match(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    assert ids(client, "skill=Python") == [people["ada"]["id"], people["bob"]["id"]]
    assert ids(client, "skill=Python&skill=Math") == [people["ada"]["id"]]
    assert ids(client, "skill=Python&skill=Go") == []


def test_company_and_years_filters(client: FlaskClient, people: dict[str, Any]) -> None:
    assert ids(client, "company=Acme") == [people["bob"]["id"]]
    assert ids(client, "company=Analytical%20Engines&min_years=5") == [people["ada"]["id"]]
    assert ids(client, "max_years=3") == [people["bob"]["id"], people["eve"]["id"]]
    assert ids(client, "min_years=3&max_years=3") == [people["bob"]["id"]]


def test_q_is_a_case_insensitive_literal_substring_of_name_or_email(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    assert ids(client, "q=LOVELACE") == [people["ada"]["id"]]
    assert ids(client, "q=example.org") == [people["bob"]["id"]]
    assert ids(client, f"q={quote('(.*)')}") == [people["eve"]["id"]]
    assert ids(client, f"q={quote('.*')}") == [people["eve"]["id"]]
    assert ids(client, f"q={quote('^a')}") == []
    assert ids(client, f"q={quote('[')}") == []


def test_created_after_and_before(client: FlaskClient, people: dict[str, Any]) -> None:
    bob_created = people["bob"]["created_at"]

    assert people["bob"]["id"] not in ids(client, f"created_after={quote(bob_created)}")
    assert ids(client, f"created_before={quote(bob_created)}") == [people["ada"]["id"]]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids(client, f"created_after={quote(later)}") == []
    assert len(ids(client, "created_after=2000-01-01T00:00:00")) == 3  # naive means UTC


def test_fields_returns_only_those_fields_and_the_id(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    items = client.get(f"{USERS}?fields=name,email&sort=-name").json["items"]

    assert items[0] == {key: people["eve"][key] for key in ("id", "name", "email")}
    assert all(set(item) == {"id", "name", "email"} for item in items)


@pytest.mark.usefixtures("people")
def test_include_total_false_leaves_out_the_count(client: FlaskClient) -> None:
    body = client.get(f"{USERS}?include_total=false&page_size=2").json

    assert "total" not in body
    assert len(body["items"]) == 2
    assert body["next_cursor"] is not None


def link_targets(response: Any) -> dict[str, str]:
    return {
        rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    }


def walk_by_cursor(client: FlaskClient, query: str) -> list[str]:
    """Every user id from the first page of `query` on, following next_cursor."""
    response = client.get(f"{USERS}?{query}")
    seen = [user["id"] for user in response.json["items"]]
    if response.json["next_cursor"] is None:
        return seen
    response = client.get(f"{USERS}?cursor={response.json['next_cursor']}&page_size=3")
    while True:
        assert response.status_code == 200, response.json
        assert "page" not in response.json
        seen += [user["id"] for user in response.json["items"]]
        links = link_targets(response)
        if response.json["next_cursor"] is None:
            assert "next" not in links
            return seen
        assert f"cursor={response.json['next_cursor']}" in links["next"]
        response = client.get(links["next"])


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "name", "-name", "email", "-email"])
def test_cursor_paging_visits_every_user_once_in_order(client: FlaskClient, sort: str) -> None:
    created = [
        create(client, name=f"N{index % 3}", email=f"u{index:02}@example.com")
        for index in range(11)
    ]
    everyone = ids(client, f"sort={sort}&page_size=100")

    assert walk_by_cursor(client, f"sort={sort}&page_size=3") == everyone
    assert sorted(everyone) == sorted(user["id"] for user in created)


def test_cursor_paging_skips_nothing_when_users_are_added_meanwhile(client: FlaskClient) -> None:
    before = [create(client, email=f"before{index}@example.com")["id"] for index in range(6)]
    first = client.get(f"{USERS}?page_size=4").json
    for index in range(5):
        create(client, email=f"during{index}@example.com")

    seen = [user["id"] for user in first["items"]]
    seen += walk_by_cursor(client, f"cursor={first['next_cursor']}&page_size=4")
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        cursors.encode("password", "x", "0123456789abcdef01234567"),
        cursors.encode("name", "x", "not-an-object-id"),
        cursors.encode("created_at", "a string, not a date", "0123456789abcdef01234567"),
        cursors.encode("name", datetime.now(UTC), "0123456789abcdef01234567"),
    ],
)
def test_a_cursor_not_made_by_the_api_is_400(client: FlaskClient, cursor: str) -> None:
    assert_problem(client.get(f"{USERS}?cursor={quote(cursor)}"), 400, "invalid_cursor")


@pytest.mark.parametrize(
    "query",
    [
        "page=2&cursor={cursor}",
        "sort=-name&cursor={cursor}",
        "min_years=5&max_years=4",
        "created_after=2025-01-02T00:00:00Z&created_before=2025-01-01T00:00:00Z",
    ],
)
def test_contradictory_query_arguments_are_400(client: FlaskClient, query: str) -> None:
    cursor = cursors.encode("name", "x", "0123456789abcdef01234567")

    response = client.get(f"{USERS}?{query.format(cursor=quote(cursor))}")

    assert_problem(response, 400, "invalid_query")


@pytest.mark.parametrize(
    "query",
    [
        "role[$ne]=x",
        "$where=1",
        "role.name=x",
        "fields=password",
        "fields=name,$where",
        "min_years=abc",
        "min_years=81",
        "created_after=yesterday",
        "skill=" + "&skill=".join(str(n) for n in range(11)),
        "q=" + "x" * 101,
    ],
)
def test_hostile_or_invalid_query_arguments_are_422(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"{USERS}?{query}"), 422, "validation_failed")


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"$gt": ""}, "email": "a@example.com"},
        {"name": "A", "email": {"$ne": None}},
        {"name": "A", "email": "a@example.com", "$where": "sleep(1000)"},
        {"name": "A", "email": "a@example.com", "experience.years": 5},
        {"name": "A", "email": "a@example.com", "experience": {"$set": {"years": 1}}},
        {"name": "A", "email": "a@example.com", "skills": [{"$each": ["x"]}]},
    ],
)
def test_operators_in_bodies_are_refused_and_change_nothing(
    client: FlaskClient, people: dict[str, Any], body: dict[str, Any]
) -> None:
    before = client.get(f"{USERS}?page_size=100").json
    target = f"{USERS}/{people['ada']['id']}"

    for method, url in [("POST", USERS), ("PUT", target), ("PATCH", target)]:
        assert_problem(client.open(url, method=method, json=body), 422, "validation_failed")

    assert client.get(f"{USERS}?page_size=100").json == before


def test_operator_like_strings_are_stored_as_plain_text(client: FlaskClient) -> None:
    user = create(client, name="$where", role="$ne", skills=["$gt", "a.b"])

    assert ids(client, "role=%24ne") == [user["id"]]
    assert ids(client, "skill=%24gt") == [user["id"]]
    assert client.get(f"{USERS}/{user['id']}").json["name"] == "$where"


def test_links_keep_every_value_of_a_repeated_argument(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    cy = create(client, name="Cy", email="cy@example.com", skills=["Python", "Math"])
    first = client.get(f"{USERS}?skill=Python&skill=Math&page_size=1")
    links = link_targets(first)

    assert "skill=Python&skill=Math" in links["next"]
    assert [user["id"] for user in first.json["items"]] == [people["ada"]["id"]]
    # Following a link keeps the filter: Cy has both skills, Bob (Python only) is not next.
    assert [user["id"] for user in client.get(links["next"]).json["items"]] == [cy["id"]]
    cursor = first.json["next_cursor"]
    by_cursor = client.get(f"{USERS}?skill=Python&skill=Math&page_size=1&cursor={cursor}")
    assert [user["id"] for user in by_cursor.json["items"]] == [cy["id"]]
    assert "skill=Python&skill=Math" in link_targets(by_cursor)["first"]
