"""The users API over HTTP, as the frontend needs it (the contract in openapi/).

Every call has a timeout. A problem response becomes ApiProblem; no answer at all (refused,
timed out) or a 503 becomes BackendUnavailable.
"""

from typing import Any

import httpx

USERS = "/api/v1/users"


class BackendUnavailable(Exception):
    """The API did not answer, or answered that it cannot serve now."""


class ApiProblem(Exception):
    """The API refused the request with a problem+json body (RFC 9457)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail", f"HTTP {status}"))
        self.status = status
        self.code: str = body.get("code", "")
        self.detail: str = body.get("detail", "")
        self.errors: dict[str, list[str]] = body.get("errors") or {}


class UsersClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise BackendUnavailable(str(error)) from error
        if response.status_code == 503:
            raise BackendUnavailable("the API answered 503")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiProblem(response.status_code, body if isinstance(body, dict) else {})
        return response

    def list_users(self, params: dict[str, Any]) -> dict[str, Any]:
        """listUsers: the page envelope."""
        return self._send("GET", USERS, params=params).json()

    def get_user(self, user_id: str) -> tuple[dict[str, Any], str]:
        """getUser: the user and its ETag."""
        response = self._send("GET", f"{USERS}/{user_id}")
        return response.json(), response.headers["ETag"]

    def create_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """createUser: the created user."""
        return self._send("POST", USERS, json=user).json()

    def replace_user(self, user_id: str, user: dict[str, Any], etag: str) -> dict[str, Any]:
        """replaceUser, only if the user is still at `etag` (412 otherwise)."""
        return self._send("PUT", f"{USERS}/{user_id}", json=user, headers={"If-Match": etag}).json()

    def delete_user(self, user_id: str, etag: str) -> None:
        """deleteUser, only if the user is still at `etag` (412 otherwise)."""
        self._send("DELETE", f"{USERS}/{user_id}", headers={"If-Match": etag})

    def close(self) -> None:
        self._http.close()
