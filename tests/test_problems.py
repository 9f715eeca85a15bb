"""The registry of problems (api/problems.py): each defined once, raised and documented alike."""

import http
import re
import string
from typing import Any

import pytest

from api import create_app, docs, problems
from api.problems import REGISTRY


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return docs.documents(create_app({}))["openapi"]


def test_every_detail_is_a_sentence_its_example_fills() -> None:
    for problem in REGISTRY:
        fields = {name for _, name, _, _ in string.Formatter().parse(problem.detail) if name}
        assert fields == set(problem.example), problem.code
        detail = problem.error(**problem.example).detail
        assert detail == problem.example_detail
        assert detail.endswith("."), detail
        assert re.fullmatch(r"[a-z_]+", problem.code), problem.code


def test_each_status_and_code_is_explained() -> None:
    explained = {(p.status, p.code) for p in REGISTRY if p.doc is not None}
    assert {(p.status, p.code) for p in REGISTRY} == explained


def test_the_raised_error_carries_the_problem() -> None:
    error = problems.USER_NOT_FOUND.error(user_id="0123456789abcdef01234567")
    assert (error.status, error.code) == (404, "not_found")
    assert error.detail == "No user with id 0123456789abcdef01234567."

    taken = problems.EMAIL_TAKEN.error()
    assert taken.errors == problems.EMAIL_TAKEN.errors  # carried whenever it is raised
    assert problems.DATABASE_UNAVAILABLE.error().headers == {"Retry-After": "5"}
    merged = problems.IDEMPOTENCY_KEY_IN_USE.error(headers={"X-Extra": "1"}).headers
    assert merged == {"Retry-After": "1", "X-Extra": "1"}


def test_the_spec_documents_each_status_with_its_problems(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    # Answered by Hypercorn before any operation is known (api/framing.py): no operation's.
    connection_level = {431}
    for problem in REGISTRY:
        if problem.status in connection_level:
            assert http.HTTPStatus(problem.status).name not in responses
            continue
        if problem.status == 500:  # documented as the default response: "a 500 is a bug"
            response = responses["DEFAULT_ERROR"]
        else:
            response = responses[http.HTTPStatus(problem.status).name]
            assert f"(`{problem.code}`)" in response["description"], problem.code
        example = response["content"]["application/problem+json"]["example"]
        first = problems.of_status(problem.status)[0]
        assert (example["code"], example["detail"]) == (first.code, first.example_detail)
