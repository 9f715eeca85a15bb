"""Opaque paging cursors."""

from datetime import UTC, datetime

import pytest

from api import cursors


@pytest.mark.parametrize(
    "value", ["Ada", "", "ünïcödé $where", datetime(2024, 1, 15, 0, 0, 0, 123000, tzinfo=UTC)]
)
def test_a_cursor_decodes_to_what_was_encoded(value: object) -> None:
    token = cursors.encode("-name", value, "0123456789abcdef01234567")

    assert cursors.decode(token) == ("-name", value, "0123456789abcdef01234567")
    assert token.isascii()
    assert "=" not in token


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "e30", "eyJzb3J0IjoxfQ", "bnVsbA", "eyJzb3J0IjoibmFtZSIsInMiOjEsImlkIjoieCJ9"],
)
def test_anything_else_is_a_value_error(token: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        cursors.decode(token)
