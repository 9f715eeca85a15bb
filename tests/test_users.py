"""The users resource over HTTP (Flask test client): every operation and every error."""

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import USERS, assert_problem, closed_port, course_user, create

pytestmark = pytest.mark.real_driver

MISSING_ID = "0123456789abcdef01234567"


def user_url(user: dict[str, Any]) -> str:
    return f"{USERS}/{user['id']}"


# --- create -------------------------------------------------------------------------------


def test_create_returns_the_user_with_location_and_etag(client: FlaskClient) -> None:
    response = client.post(USERS, json=course_user())

    assert response.status_code == 201
    user = response.json
    assert re.fullmatch(r"[0-9a-f]{24}", user["id"])
    assert response.headers["Location"] == f"{USERS}/{user['id']}"
    assert re.fullmatch(r'"\d+"', response.headers["ETag"])
    assert {key: user[key] for key in course_user()} == course_user()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", user["created_at"])
    assert user["updated_at"] == user["created_at"]
    assert "_id" not in user
    assert "email_key" not in user
    assert "version" not in user
    assert client.get(response.headers["Location"]).json == user


def test_create_applies_defaults_for_optional_fields(client: FlaskClient) -> None:
    user = client.post(USERS, json={"name": "Ada", "email": "ada@example.com"}).json

    assert user["skills"] == []
    assert user["active"] is True
    assert "role" not in user
    assert "experience" not in user


def test_create_with_a_taken_email_in_other_case_is_409_and_stores_nothing(
    client: FlaskClient,
) -> None:
    create(client, email="Priyanshu@Example.com")

    response = client.post(USERS, json=course_user(name="Other", email="PRIYANSHU@example.COM"))

    body = assert_problem(response, 409, "email_taken")
    assert "email" in body["errors"]
    assert client.get(USERS).json["total"] == 1


# --- one mailbox, one user ------------------------------------------------------------------

COMPOSED = "anna@b\u00fccher.example"  # ü as one code point
SPELLINGS = [
    COMPOSED,
    "anna@bu\u0308cher.example",  # u, then COMBINING DIAERESIS
    "anna@xn--bcher-kva.example",  # the domain's ASCII (A-label) form
    "anna@\uff42\u00fc\uff43\uff48\uff45\uff52.example",  # fullwidth letters
    "anna@b\u00fccher\u3002example",  # IDEOGRAPHIC FULL STOP between the labels
    "ANNA@B\u00dcCHER.EXAMPLE",
    "Anna@BU\u0308CHER.example",
]


@pytest.mark.parametrize("first", [COMPOSED, SPELLINGS[1]])
@pytest.mark.parametrize("second", SPELLINGS)
def test_every_spelling_of_one_mailbox_is_one_user(
    client: FlaskClient, first: str, second: str
) -> None:
    create(client, email=first)

    response = client.post(USERS, json=course_user(name="Other", email=second))

    assert_problem(response, 409, "email_taken")
    assert client.get(USERS).json["total"] == 1


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("anna@bu\u0308cher.example", COMPOSED),  # decomposed: accepted, stored NFC
        ("jose\u0301@example.com", "jos\u00e9@example.com"),
        ("Anna@xn--bcher-kva.example", "Anna@xn--bcher-kva.example"),  # else as given
        ("\u0930\u093e\u092e@example.com", "\u0930\u093e\u092e@example.com"),  # Devanagari
        ("Priyanshu@Example.COM", "Priyanshu@Example.COM"),
    ],
)
def test_email_is_stored_as_given_in_nfc(client: FlaskClient, given: str, stored: str) -> None:
    user = create(client, email=given)

    assert user["email"] == stored
    assert client.get(user_url(user)).json["email"] == stored
    assert client.get(f"{USERS}?q={stored.split('@')[0]}").json["total"] == 1


def test_put_and_patch_to_another_spelling_of_a_taken_mailbox_are_409(
    client: FlaskClient,
) -> None:
    create(client, email=COMPOSED)
    other = create(client, email="other@example.com")

    for method, body in [
        ("PUT", course_user(email=SPELLINGS[2])),
        ("PATCH", {"email": SPELLINGS[3]}),
    ]:
        response = client.open(user_url(other), method=method, json=body)
        assert_problem(response, 409, "email_taken")
    assert client.get(user_url(other)).json == other


def test_a_user_may_respell_its_own_mailbox(client: FlaskClient) -> None:
    user = create(client, email=COMPOSED)

    response = client.patch(user_url(user), json={"email": SPELLINGS[2]})

    assert response.status_code == 200
    assert response.json["email"] == SPELLINGS[2]


def test_a_batch_holding_two_spellings_of_one_mailbox_creates_one_user(
    client: FlaskClient,
) -> None:
    items = [course_user(email=COMPOSED), course_user(email=SPELLINGS[1])]

    response = client.post(f"{USERS}/batch", json={"items": items})

    assert [item["status"] for item in response.json["items"]] == [201, 409]


@pytest.mark.parametrize(
    "email",
    [
        "anna@bu\u0308cher",  # one label
        "anna@b\u00fccher.example.",  # a trailing dot
        "anna@-b\u00fccher.example",
        "anna@b_cher.example",
        "anna@\U0001f600.example",  # UTS 46 disallows emoji
        "anna@\u200d.example",  # ZERO WIDTH JOINER alone
        "anna\uff20example.com",  # FULLWIDTH COMMERCIAL AT is not an @
        "an na@example.com",
        "an\u00a0na@example.com",
        "an..na@example.com",
        "anna@[300.1.1.1]",
        "@example.com",
    ],
)
def test_what_is_not_an_email_address_is_422(client: FlaskClient, email: str) -> None:
    response = client.post(USERS, json=course_user(email=email))

    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {"email": ["Not a valid email address."]}


# --- text is stored NFC -------------------------------------------------------------------

CAFE, CAFE_DECOMPOSED = "Caf\u00e9", "Cafe\u0301"


def test_text_fields_are_stored_nfc(client: FlaskClient) -> None:
    user = create(
        client,
        name=CAFE_DECOMPOSED,
        role=f"{CAFE_DECOMPOSED} owner",
        skills=[CAFE_DECOMPOSED],
        experience={"years": 1, "companies": [CAFE_DECOMPOSED]},
    )

    assert user["name"] == CAFE
    assert user["role"] == f"{CAFE} owner"
    assert user["skills"] == [CAFE]
    assert user["experience"]["companies"] == [CAFE]
    for query in [f"skill={CAFE}", f"company={CAFE}", f"role={CAFE} owner", f"q={CAFE}"]:
        assert client.get(f"{USERS}?{query}").json["total"] == 1, query
    for query in [f"skill={CAFE_DECOMPOSED}", f"q={CAFE_DECOMPOSED}"]:
        assert client.get(f"{USERS}?{query}").json["total"] == 1, query


def test_two_spellings_of_a_skill_are_one_skill(client: FlaskClient) -> None:
    response = client.post(USERS, json=course_user(skills=[CAFE, CAFE_DECOMPOSED]))
    assert_problem(response, 422, "validation_failed")

    created = client.post(USERS, json=course_user(skills=[CAFE]))
    user_skill = f"{user_url(created.json)}/skills/{CAFE_DECOMPOSED}"
    added = client.put(user_skill)
    assert added.json["skills"].count(CAFE) == 1
    assert added.headers["ETag"] == created.headers["ETag"]  # nothing changed
    removed = client.delete(user_skill)
    assert CAFE not in removed.json["skills"]


def test_an_integral_float_is_an_integer_as_in_json_schema(client: FlaskClient) -> None:
    response = client.post(USERS, json=course_user(experience={"years": 5.0}))

    assert response.status_code == 201
    assert response.json["experience"]["years"] == 5
    assert type(response.json["experience"]["years"]) is int


def test_a_name_with_one_visible_character_is_not_blank(client: FlaskClient) -> None:
    # Unicode spaces around one visible character (control characters are refused outright).
    response = client.post(USERS, json=course_user(name="\u3000 P\u2003"))

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "name"),
        (course_user(name=""), "name"),
        (course_user(name="   "), "name"),
        # White space or control characters only, as ECMA-262 and Python both read the pattern.
        (course_user(name="\u2003\x85"), "name"),
        (course_user(name="\x1f"), "name"),
        (course_user(name="x" * 101), "name"),
        (course_user(name=42), "name"),
        ({"name": "Ada"}, "email"),
        (course_user(email="not-an-email"), "email"),
        (course_user(email=f"{'a' * 250}@example.com"), "email"),
        (course_user(role=""), "role"),
        (course_user(skills=["Docker", "Docker"]), "skills"),
        (course_user(skills=[f"s{i}" for i in range(51)]), "skills"),
        (course_user(skills=[""]), "skills.0"),
        (course_user(skills="Docker"), "skills"),
        (course_user(experience={"years": 81}), "experience.years"),
        (course_user(experience={"years": -1}), "experience.years"),
        (course_user(experience={"years": "5"}), "experience.years"),
        (course_user(experience={"years": 5.5}), "experience.years"),
        (course_user(experience={"years": True}), "experience.years"),
        (course_user(experience={"companies": [1]}), "experience.companies.0"),
        (course_user(experience=None), "experience"),
        (course_user(active="true"), "active"),
        (course_user(active=1), "active"),
        (course_user(nickname="P"), "nickname"),
        (course_user(id="0123456789abcdef01234567"), "id"),
        (course_user(created_at="2024-01-15T00:00:00Z"), "created_at"),
        (course_user(_id="x"), "_id"),
        (["not", "an", "object"], "_schema"),
    ],
)
def test_create_refuses_invalid_bodies_with_422_naming_the_field(
    client: FlaskClient, body: Any, field: str
) -> None:
    response = client.post(USERS, json=body)

    problem = assert_problem(response, 422, "validation_failed")
    assert field in problem["errors"], problem["errors"]
    assert client.get(USERS).json["total"] == 0


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(USERS, data='{"name": ', content_type="application/json")

    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_write_without_a_json_body_is_415(client: FlaskClient, content_type: str | None) -> None:
    user = create(client)
    body = '{"name": "Ada", "email": "ada@example.com"}'
    for method, url in [("POST", USERS), ("PUT", user_url(user)), ("PATCH", user_url(user))]:
        response = client.open(url, method=method, data=body, content_type=content_type)
        assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("app_config", [{"MAX_BODY_BYTES": 1000}])
def test_a_body_over_max_body_bytes_is_413(client: FlaskClient) -> None:
    response = client.post(USERS, json=course_user(role="x" * 1000))

    assert_problem(response, 413, "payload_too_large")
    assert client.get(USERS).json["total"] == 0


# --- get ----------------------------------------------------------------------------------


def test_get_returns_the_user_and_its_etag(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())

    response = client.get(user_url(created.json))

    assert response.status_code == 200
    assert response.json == created.json
    assert response.headers["ETag"] == created.headers["ETag"]


@pytest.mark.parametrize("header", ["{etag}", "W/{etag}", '"999", {etag}', "*"])
def test_get_with_a_matching_if_none_match_is_304_without_body(
    client: FlaskClient, header: str
) -> None:
    created = client.post(USERS, json=course_user())
    etag = created.headers["ETag"]

    response = client.get(
        user_url(created.json), headers={"If-None-Match": header.format(etag=etag)}
    )

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert "Content-Type" not in response.headers


def test_get_with_a_stale_if_none_match_is_200(client: FlaskClient) -> None:
    user = create(client)

    response = client.get(user_url(user), headers={"If-None-Match": '"999"'})

    assert response.status_code == 200
    assert response.json == user


@pytest.mark.parametrize(
    "user_id",
    [
        MISSING_ID,
        "not-an-id",
        "0123456789abcdef0123456",  # 23 characters
        "0123456789abcdef012345678",  # 25 characters
        "0123456789abcdef0123456z",
        "%24where",
        "..%2F..%2Fetc",
    ],
)
def test_an_unknown_or_malformed_id_is_404_for_every_method(
    client: FlaskClient, user_id: str
) -> None:
    for method in ["GET", "PUT", "PATCH", "DELETE"]:
        response = client.open(f"{USERS}/{user_id}", method=method, json=course_user())
        assert_problem(response, 404, "not_found")


def test_an_uppercase_id_finds_the_user(client: FlaskClient) -> None:
    user = create(client)

    assert client.get(f"{USERS}/{user['id'].upper()}").json == user


# --- list ---------------------------------------------------------------------------------


def create_many(client: FlaskClient, count: int, **changes: Any) -> list[dict[str, Any]]:
    return [
        create(client, name=f"User {index:03}", email=f"user{index:03}@example.com", **changes)
        for index in range(count)
    ]


def links(response: Any) -> dict[str, str]:
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    return {rel: url for url, rel in found}


def test_list_is_a_page_envelope_with_the_total(client: FlaskClient) -> None:
    users = create_many(client, 3)

    response = client.get(USERS)

    assert response.status_code == 200
    assert response.json == {
        "items": users,
        "page_size": 20,
        "total": 3,
        "next_cursor": None,
        "page": 1,
    }


def test_list_pages_with_link_headers(client: FlaskClient) -> None:
    users = create_many(client, 25)

    first = client.get(f"{USERS}?page_size=10&role=DevOps%20Engineer")
    assert [user["id"] for user in first.json["items"]] == [user["id"] for user in users[:10]]
    assert set(links(first)) == {"first", "next", "last"}

    last = client.get(links(first)["last"])
    assert last.json["page"] == 3
    assert [user["id"] for user in last.json["items"]] == [user["id"] for user in users[20:]]
    assert set(links(last)) == {"first", "prev", "last"}
    assert "role=DevOps+Engineer" in links(last)["prev"]

    middle = client.get(links(first)["next"])
    assert middle.json["page"] == 2
    assert set(links(middle)) == {"first", "prev", "next", "last"}


def test_a_page_past_the_end_is_empty_and_links_back(client: FlaskClient) -> None:
    create_many(client, 3)

    response = client.get(f"{USERS}?page=5&page_size=2")

    assert response.json["items"] == []
    assert response.json["total"] == 3
    assert "page=2" in links(response)["prev"]


@pytest.mark.parametrize("app_config", [{"MAX_PAGE_SIZE": 5}])
def test_page_size_is_capped_by_max_page_size(client: FlaskClient) -> None:
    create_many(client, 7)

    response = client.get(f"{USERS}?page_size=50")

    assert response.json["page_size"] == 5
    assert len(response.json["items"]) == 5


def test_list_filters_by_role_active_and_skill(client: FlaskClient) -> None:
    devops = create(client, email="d@example.com", role="DevOps", skills=["Docker"])
    inactive = create(client, email="i@example.com", role="DevOps", active=False, skills=["Go"])
    create(client, email="b@example.com", role="Backend", skills=["Docker", "Go"])

    def ids(query: str) -> list[str]:
        return [user["id"] for user in client.get(f"{USERS}?{query}").json["items"]]

    assert ids("role=DevOps") == [devops["id"], inactive["id"]]
    assert ids("role=DevOps&active=true") == [devops["id"]]
    assert ids("active=false") == [inactive["id"]]
    assert ids("role=DevOps&skill=Go") == [inactive["id"]]
    assert ids("role=%24ne") == []
    assert client.get(f"{USERS}?skill=Docker").json["total"] == 2


def test_list_sorts_by_name_email_and_creation(client: FlaskClient) -> None:
    bob = create(client, name="bob", email="B@example.com")
    alice = create(client, name="Alice", email="c@example.com")
    carol = create(client, name="Carol", email="a@example.com")

    def names(sort: str) -> list[str]:
        return [user["name"] for user in client.get(f"{USERS}?sort={sort}").json["items"]]

    assert names("created_at") == [bob["name"], alice["name"], carol["name"]]
    assert names("-created_at") == [carol["name"], alice["name"], bob["name"]]
    assert names("name") == ["Alice", "Carol", "bob"]  # binary order, as MongoDB compares
    assert names("-name") == ["bob", "Carol", "Alice"]
    assert names("email") == ["Carol", "bob", "Alice"]  # emails compare case-insensitively


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=99999999999", "page"),
        ("page_size=0", "page_size"),
        ("page_size=-1", "page_size"),
        ("sort=password", "sort"),
        ("active=yes", "active"),
        ("active=1", "active"),
        ("role=", "role"),
        ("unknown=1", "unknown"),
        # Integers are ASCII digits: int() alone reads all of these as numbers.
        ("page=%D9%A1", "page"),  # ARABIC-INDIC DIGIT ONE
        ("page=%EF%BC%92", "page"),  # FULLWIDTH DIGIT TWO
        ("page_size=1_0", "page_size"),
        ("min_years=+1", "min_years"),
        ("max_years=%201", "max_years"),
        ("min_years=1%C2%A0", "min_years"),  # a no-break space after
        ("page=%C2%B2", "page"),  # SUPERSCRIPT TWO
        # An offset taking the instant out of the years 1 to 9999.
        ("created_after=9999-12-31T23:59:59-01:00", "created_after"),
        ("created_before=0001-01-01T00:00:00%2B01:00", "created_before"),
    ],
)
def test_list_refuses_invalid_query_arguments_with_422(
    client: FlaskClient, query: str, field: str
) -> None:
    response = client.get(f"{USERS}?{query}")

    problem = assert_problem(response, 422, "validation_failed")
    assert field in problem["errors"]


# --- replace ------------------------------------------------------------------------------


def test_put_replaces_every_field_and_removes_omitted_ones(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())
    user = created.json

    response = client.put(user_url(user), json={"name": "Priya", "email": "priya@example.com"})

    assert response.status_code == 200
    replaced = response.json
    assert replaced["name"] == "Priya"
    assert replaced["email"] == "priya@example.com"
    assert "role" not in replaced
    assert "experience" not in replaced
    assert replaced["skills"] == []
    assert replaced["created_at"] == user["created_at"]
    assert replaced["updated_at"] >= user["updated_at"]
    assert response.headers["ETag"] != created.headers["ETag"]
    assert client.get(user_url(user)).json == replaced


def test_put_needs_every_required_field(client: FlaskClient) -> None:
    user = create(client)

    response = client.put(user_url(user), json={"name": "Priya"})

    assert_problem(response, 422, "validation_failed")
    assert client.get(user_url(user)).json == user


def test_put_may_change_the_case_of_its_own_email(client: FlaskClient) -> None:
    user = create(client)

    response = client.put(user_url(user), json=course_user(email="PRIYANSHU@example.com"))

    assert response.status_code == 200
    assert response.json["email"] == "PRIYANSHU@example.com"


def test_put_and_patch_with_another_users_email_are_409_and_change_nothing(
    client: FlaskClient,
) -> None:
    create(client, email="taken@example.com")
    user = create(client, email="mine@example.com")

    put = client.put(user_url(user), json=course_user(email="Taken@example.com"))
    patch = client.patch(user_url(user), json={"email": "TAKEN@example.com", "name": "X"})

    assert_problem(put, 409, "email_taken")
    assert_problem(patch, 409, "email_taken")
    assert client.get(user_url(user)).json == user


# --- update -------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(client: FlaskClient) -> None:
    user = create(client)

    response = client.patch(user_url(user), json={"role": "SRE", "active": False})

    assert response.status_code == 200
    assert response.json == {
        **user,
        "role": "SRE",
        "active": False,
        "updated_at": response.json["updated_at"],
    }


def test_patch_merges_nested_experience(client: FlaskClient) -> None:
    user = create(client)

    response = client.patch(user_url(user), json={"experience": {"years": 6}})

    assert response.json["experience"] == {"years": 6, "companies": ["Company A", "Company B"]}


def test_an_empty_patch_changes_nothing(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())

    response = client.patch(user_url(created.json), json={})

    assert response.status_code == 200
    assert response.json == created.json
    assert response.headers["ETag"] == created.headers["ETag"]


def test_patch_validates_the_fields_sent(client: FlaskClient) -> None:
    user = create(client)

    response = client.patch(user_url(user), json={"name": "", "id": MISSING_ID})

    problem = assert_problem(response, 422, "validation_failed")
    assert set(problem["errors"]) == {"name", "id"}
    assert client.get(user_url(user)).json == user


# --- If-Match -----------------------------------------------------------------------------


def write_with_if_match(
    client: FlaskClient, method: str, if_match: str
) -> tuple[dict[str, Any], Any]:
    """Create a user, then write it with If-Match (`{etag}` stands for its ETag)."""
    created = client.post(USERS, json=course_user())
    body = {"PUT": course_user(name="New"), "PATCH": {"name": "New"}, "DELETE": None}[method]
    header = if_match.format(etag=created.headers["ETag"])
    response = client.open(
        user_url(created.json), method=method, json=body, headers={"If-Match": header}
    )
    return created.json, response


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("if_match", ["{etag}", '"999", {etag}', "*"])
def test_a_write_with_a_current_if_match_succeeds(
    client: FlaskClient, method: str, if_match: str
) -> None:
    user, response = write_with_if_match(client, method, if_match)

    assert response.status_code == (204 if method == "DELETE" else 200)
    if method != "DELETE":
        assert response.json["name"] == "New"
        assert response.headers["ETag"] != '"1"'
    else:
        assert client.get(user_url(user)).status_code == 404


# Tags of any content: none is a version this API issued, none may be a 500.
ODD_TAGS = [
    '"01"',  # 1 with a leading zero: a strong comparison is of the exact characters
    '"+1"',
    '"1_0"',
    '" 1"',
    '"\u0661"',  # ARABIC-INDIC DIGIT ONE: int() reads it as 1
    '"\uff11"',  # FULLWIDTH DIGIT ONE
    '"\u00b9"',  # SUPERSCRIPT ONE: isdigit() but not int()
    '"\u00b2", "\u00b3"',
    '"1e3"',
    '"-1"',
    '"0"',
    '"9223372036854775808"',  # 2**63: past BSON's int64
    '"1' + "0" * 30 + '"',
    '"' + "9" * 5000 + '"',  # past int()'s 4300 digits
    '"\xff\xfe"',
    '"1',
    "W/",
    '","' * 2000,
    "*, *",
]


# Tags that are not the user's current one: a stale version, a weak tag, another's, empty.
STALE_TAGS = ['"999"', "W/{etag}", '"not-ours"', '""', 'W/"x", ""']


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("if_match", [*STALE_TAGS, *ODD_TAGS])
def test_a_write_with_an_if_match_that_is_not_the_etag_is_412_and_changes_nothing(
    client: FlaskClient, method: str, if_match: str
) -> None:
    user, response = write_with_if_match(client, method, if_match)

    assert_problem(response, 412, "precondition_failed")
    assert client.get(user_url(user)).json == user


@pytest.mark.parametrize("if_none_match", ODD_TAGS)
def test_an_if_none_match_of_any_content_that_is_not_the_etag_is_200(
    client: FlaskClient, if_none_match: str
) -> None:
    user = create(client)

    response = client.get(user_url(user), headers={"If-None-Match": if_none_match})

    assert response.status_code == 200
    assert response.json == user


def test_a_stale_etag_after_a_write_is_refused(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())
    etag = created.headers["ETag"]
    client.patch(user_url(created.json), json={"role": "SRE"}, headers={"If-Match": etag})

    response = client.patch(user_url(created.json), json={"role": "QA"}, headers={"If-Match": etag})

    assert_problem(response, 412, "precondition_failed")
    assert client.get(user_url(created.json)).json["role"] == "SRE"


def test_if_match_star_on_a_missing_user_is_412(client: FlaskClient) -> None:
    response = client.patch(f"{USERS}/{MISSING_ID}", json={"name": "X"}, headers={"If-Match": "*"})

    assert_problem(response, 412, "precondition_failed")


# --- delete -------------------------------------------------------------------------------


def test_delete_is_204_without_body_then_the_user_is_gone(client: FlaskClient) -> None:
    user = create(client)

    response = client.delete(user_url(user))

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert_problem(client.get(user_url(user)), 404, "not_found")
    assert_problem(client.delete(user_url(user)), 404, "not_found")
    assert client.get(USERS).json["total"] == 0


def test_a_deleted_users_email_can_be_used_again(client: FlaskClient) -> None:
    user = create(client)
    client.delete(user_url(user))

    assert create(client)["id"] != user["id"]


# --- routing and server errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", USERS, "GET, HEAD, OPTIONS, POST"),
        ("TRACE", USERS, "GET, HEAD, OPTIONS, POST"),
        ("POST", f"{USERS}/{MISSING_ID}", "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"),
        ("POST", "/health/live", "GET, HEAD, OPTIONS"),
    ],
)
def test_an_unsupported_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = client.open(path, method=method)

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize("path", ["/nope", "/api/v1/users/", "/api/v2/users", "/api/v1/user"])
def test_an_unknown_route_is_404(client: FlaskClient, path: str) -> None:
    body = assert_problem(client.get(path), 404, "not_found")
    assert body["instance"] == path


def test_an_unexpected_exception_is_a_500_problem_without_internals(
    app: Any, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> str:
        raise RuntimeError("secret internal detail /srv/app.py")

    app.add_url_rule("/broken", view_func=broken)

    response = client.get("/broken")

    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert body["instance"] == "/broken"
    assert "secret internal detail" in caplog.text  # logged for the operator


UNREACHABLE = {"MONGODB_URI": f"mongodb://127.0.0.1:{closed_port()}", "MONGODB_TIMEOUT_MS": 300}


@pytest.mark.parametrize("app_config", [UNREACHABLE])
def test_every_operation_is_503_with_retry_after_when_mongodb_is_unreachable(
    client: FlaskClient,
) -> None:
    # A real Motor client (not mongomock), driven from the test client's background loop.
    user_id = MISSING_ID
    operations = [
        ("GET", USERS, None),
        ("POST", USERS, course_user()),
        ("GET", f"{USERS}/{user_id}", None),
        ("PUT", f"{USERS}/{user_id}", course_user()),
        ("PATCH", f"{USERS}/{user_id}", {"name": "X"}),
        ("DELETE", f"{USERS}/{user_id}", None),
        ("GET", "/health/ready", None),
    ]
    for method, path, body in operations * 2:  # twice: the client must survive on its loop
        response = client.open(path, method=method, json=body)
        assert_problem(response, 503, "database_unavailable")
        assert int(response.headers["Retry-After"]) > 0


# --- merge patch --------------------------------------------------------------------------


def test_patch_is_a_json_merge_patch_where_null_removes_or_resets(client: FlaskClient) -> None:
    user = create(client, active=False)

    response = client.patch(
        user_url(user),
        data='{"role": null, "experience": null, "skills": null, "active": null}',
        content_type="application/merge-patch+json",
    )

    assert response.status_code == 200
    patched = response.json
    assert "role" not in patched
    assert "experience" not in patched
    assert patched["skills"] == []
    assert patched["active"] is True
    assert client.get(user_url(user)).json == patched


@pytest.mark.parametrize("field", ["name", "email"])
def test_patch_cannot_remove_a_required_field(client: FlaskClient, field: str) -> None:
    user = create(client)

    response = client.patch(user_url(user), json={field: None})

    assert field in assert_problem(response, 422, "validation_failed")["errors"]
    assert client.get(user_url(user)).json == user


# --- skills -------------------------------------------------------------------------------


def skill_url(user: dict[str, Any], skill: str) -> str:
    return f"{user_url(user)}/skills/{skill}"


def test_adding_a_skill_is_idempotent(client: FlaskClient) -> None:
    user = create(client, skills=["Docker"])

    first = client.put(skill_url(user, "C%2B%2B"))
    again = client.put(skill_url(user, "C%2B%2B"))

    assert first.status_code == 200
    assert first.json["skills"] == ["Docker", "C++"]
    assert again.json == first.json
    assert again.headers["ETag"] == first.headers["ETag"] != f'"{1}"'


def test_removing_a_skill_is_idempotent(client: FlaskClient) -> None:
    user = create(client, skills=["Docker", "AWS"])

    first = client.delete(skill_url(user, "Docker"))
    again = client.delete(skill_url(user, "Docker"))

    assert first.status_code == 200
    assert first.json["skills"] == ["AWS"]
    assert again.json == first.json
    assert again.headers["ETag"] == first.headers["ETag"]


def test_a_user_cannot_have_more_than_50_skills(client: FlaskClient) -> None:
    user = create(client, skills=[f"s{index}" for index in range(50)])

    assert_problem(client.put(skill_url(user, "one-more")), 409, "too_many_skills")
    assert client.put(skill_url(user, "s7")).status_code == 200  # already there: fine
    assert client.get(user_url(user)).json == user


def test_skill_operations_check_the_skill_the_user_and_if_match(client: FlaskClient) -> None:
    user = create(client)

    assert (
        "skill"
        in assert_problem(client.put(skill_url(user, "%20")), 422, "validation_failed")["errors"]
    )
    assert_problem(client.put(skill_url(user, "x" * 101)), 404, "not_found")
    assert_problem(client.put(f"{USERS}/{MISSING_ID}/skills/Go"), 404, "not_found")
    assert_problem(client.delete(f"{USERS}/{MISSING_ID}/skills/Go"), 404, "not_found")
    stale = {"If-Match": '"999"'}
    assert_problem(client.put(skill_url(user, "Go"), headers=stale), 412, "precondition_failed")
    assert_problem(client.delete(skill_url(user, "AWS"), headers=stale), 412, "precondition_failed")
    assert client.get(user_url(user)).json == user


# --- REQUIRE_IF_MATCH ---------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"REQUIRE_IF_MATCH": True}])
def test_with_require_if_match_every_write_without_it_is_428(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user())
    user, etag = created.json, created.headers["ETag"]
    writes = [
        ("PUT", user_url(user), course_user(name="New")),
        ("PATCH", user_url(user), {"name": "New"}),
        ("PUT", skill_url(user, "Go"), None),
        ("DELETE", skill_url(user, "AWS"), None),
        ("DELETE", user_url(user), None),
    ]
    for method, url, body in writes:
        assert_problem(client.open(url, method=method, json=body), 428, "precondition_required")
    assert client.get(user_url(user)).json == user

    patched = client.patch(user_url(user), json={"name": "New"}, headers={"If-Match": etag})
    assert patched.status_code == 200
