"""The users API over HTTP, as the frontend needs it (the contract in openapi/).

Every exchange is bounded. In time: each wait for the API lasts at most BACKEND_TIMEOUT_SECONDS,
and no read starts once that much time has passed since the request. In size: at most
BACKEND_MAX_RESPONSE_BYTES of body, counted as it arrives and refused as soon as it is exceeded;
bodies are asked for, and accepted, uncompressed only, so what is counted is what is held.
Every answer is checked against the contract before a page uses it: its status, its media type,
its JSON, and the type of every field the pages show.

    ApiError
      BackendUnavailable  no answer (refused, reset, too slow), or a 429, 502, 503 or 504:
                          the pages say "try again in a moment"
      BadGateway          an answer outside the contract (not JSON, wrong types, a redirect, a
                          500, too large, compressed, broken HTTP); `str()` is the reason, for
                          the log, never for the page
      ApiProblem          the API refused this request with a problem+json body (RFC 9457)
"""

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeGuard
from urllib.parse import quote

import httpx

USERS = "/api/v1/users"
# RFC 9110 entity-tag, visible ASCII only: it goes back to the API in If-Match, so no `*`, no
# list, nothing an HTTP header could not carry.
ETAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e]{0,200}"')
OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
UNAVAILABLE = frozenset({429, 502, 503, 504})
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """The API could not be used for this request."""


class BackendUnavailable(ApiError):
    """The API did not answer, or answered that it cannot serve now."""

    def __init__(self, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class BadGateway(ApiError):
    """The API answered something the contract does not allow."""


class ApiProblem(ApiError):
    """The API refused the request with a problem+json body (RFC 9457)."""

    def __init__(
        self,
        status: int,
        *,
        code: str,
        detail: str,
        errors: dict[str, list[str]],
        request_id: str | None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.request_id = request_id


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_experience(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _is_whole(value.get("years", 0))
        and _is_texts(value.get("companies", []))
    )


# field -> its check, for every field a page shows; the first three are always present.
USER_FIELDS: dict[str, Callable[[Any], bool]] = {
    "id": lambda value: isinstance(value, str) and OBJECT_ID.fullmatch(value) is not None,
    "name": _is_text,
    "email": _is_text,
    "role": _is_text,
    "skills": _is_texts,
    "experience": _is_experience,
    "active": lambda value: isinstance(value, bool),
    "created_at": _is_text,
    "updated_at": _is_text,
    "deleted_at": _is_text,
}
REQUIRED_USER_FIELDS = ("id", "name", "email")


def _user(value: Any) -> dict[str, Any]:
    """`value`, if it is a user as the contract describes one; BadGateway otherwise."""
    if not isinstance(value, dict):
        raise BadGateway(f"a user that is a JSON {type(value).__name__}, not an object")
    missing = [field for field in REQUIRED_USER_FIELDS if field not in value]
    wrong = [
        field for field, valid in USER_FIELDS.items() if field in value and not valid(value[field])
    ]
    if missing or wrong:
        raise BadGateway(f"a user without {missing} or with wrong types in {wrong}")
    return value


OPERATIONS = frozenset(
    {"create", "replace", "update", "add_skill", "remove_skill", "delete", "restore"}
    | {"restore_version"}
)


def _version(value: Any) -> dict[str, Any]:
    """`value`, if it is a version of a user as the contract describes one."""
    if not isinstance(value, dict):
        raise BadGateway("a version that is not a JSON object")
    valid = (
        _is_whole(value.get("version"))
        and value["version"] >= 1
        and (value.get("written_at") is None or _is_text(value["written_at"]))
        and (value.get("written_by") is None or _is_text(value["written_by"]))
        and (value.get("operation") is None or value["operation"] in OPERATIONS)
    )
    if not valid:
        raise BadGateway("a version with missing or wrongly typed fields")
    return {**value, "user": _user(value.get("user"))}


def _counts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
        isinstance(entry, dict)
        and (entry.get("value") is None or _is_text(entry["value"]))
        and _is_whole(entry.get("count"))
        for entry in value
    ):
        raise BadGateway("counts that are not a list of values and whole numbers")
    return value


def _stats(value: Any) -> dict[str, Any]:
    """`value`, if it is the insights the contract describes."""
    if not isinstance(value, dict):
        raise BadGateway("insights that are not a JSON object")
    buckets = value.get("experience")
    months = value.get("signups")
    activity = value.get("activity")
    valid = (
        _is_whole(value.get("total"))
        and isinstance(buckets, list)
        and all(
            isinstance(b, dict) and _is_text(b.get("label")) and _is_whole(b.get("count"))
            for b in buckets
        )
        and isinstance(months, list)
        and all(
            isinstance(m, dict) and _is_text(m.get("month")) and _is_whole(m.get("count"))
            for m in months
        )
        and isinstance(activity, dict)
        and _is_whole(activity.get("active"))
        and _is_whole(activity.get("inactive"))
    )
    if not valid:
        raise BadGateway("insights with missing or wrongly typed fields")
    for name in ("roles", "skills", "companies"):
        _counts(value.get(name))
    return value


def _count(value: Any, *, least: int) -> int:
    if not _is_whole(value) or value < least:
        raise BadGateway(f"a page whose counts are not whole numbers from {least}: {value!r:.40}")
    return value


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("Content-Type", "")
    return content_type.partition(";")[0].strip().lower()


def _problem(status: int, media_type: str, data: Any) -> ApiProblem:
    """The refusal `data` describes, if it is a problem body; BadGateway otherwise."""
    if media_type not in (PROBLEM_JSON, JSON) or not isinstance(data, dict):
        raise BadGateway(f"a {status} that is not problem+json ({media_type or 'no media type'})")
    errors = data.get("errors", {})
    request_id = data.get("request_id")
    if not (
        _is_text(data.get("code"))
        and _is_text(data.get("detail"))
        and isinstance(errors, dict)
        and all(_is_texts(messages) for messages in errors.values())
        and (request_id is None or _is_text(request_id))
    ):
        raise BadGateway(f"a {status} problem body with missing or wrongly typed fields")
    return ApiProblem(
        status, code=data["code"], detail=data["detail"], errors=errors, request_id=request_id
    )


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if re.fullmatch(r"[0-9]{1,5}", value) else None


class UsersClient:
    """The API's operations the pages use. Each returns checked data or raises an ApiError."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_response_bytes: int,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": f"{JSON}, {PROBLEM_JSON}", "Accept-Encoding": "identity"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        # Redirects are not followed: the contract has none, and one would leave the API.
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BadGateway(f"a body with Content-Encoding {encoding!r:.40}, not identity")
        chunks, size = [], 0
        for chunk in response.iter_bytes():  # undecoded: the encoding is identity
            size += len(chunk)
            if size > self._max_bytes:
                raise BadGateway(
                    f"a body above BACKEND_MAX_RESPONSE_BYTES ({self._max_bytes} bytes)"
                )
            if time.monotonic() > deadline:
                raise BackendUnavailable("the body took longer than BACKEND_TIMEOUT_SECONDS")
            chunks.append(chunk)
        return b"".join(chunks)

    def _call(self, method: str, path: str, success: int, **kwargs: Any) -> tuple[Any, str | None]:
        """Send one request; on `success`, the answer's JSON (None if empty) and its ETag."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.status_code in UNAVAILABLE:
                    raise BackendUnavailable(
                        f"the API answered {response.status_code}",
                        retry_after=_retry_after(response),
                    )
                body = self._read(response, deadline)
        except httpx.TimeoutException as error:
            raise BackendUnavailable(f"no answer within the timeout ({error!r})") from error
        except httpx.ProtocolError as error:
            raise BadGateway(f"broken HTTP ({error!r})") from error
        except httpx.TransportError as error:
            raise BackendUnavailable(f"no answer ({error!r})") from error
        status, media_type = response.status_code, _media_type(response)
        if status != success and not 400 <= status < 500:
            location = response.headers.get("Location")
            raise BadGateway(
                f"an unexpected {status}" + (f" to {location!r:.100}" if location else "")
            )
        if status == success and not body:
            return None, response.headers.get("ETag")
        if status == success and media_type != JSON:
            raise BadGateway(f"a {status} that is not JSON ({media_type or 'no media type'})")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise BadGateway(f"a {status} whose body is not JSON ({error!s:.80})") from None
        if status != success:
            raise _problem(status, media_type, data)
        return data, response.headers.get("ETag")

    def _versioned_user(
        self, method: str, path: str, success: int, **kwargs: Any
    ) -> tuple[dict[str, Any], str]:
        data, etag = self._call(method, path, success, **kwargs)
        if etag is None or not ETAG.fullmatch(etag):
            raise BadGateway(f"a user without a usable ETag ({etag!r:.60})")
        return _user(data), etag

    def list_users(self, params: dict[str, Any]) -> dict[str, Any]:
        """listUsers: the page envelope, with `items`, `page`, `page_size` and `total`."""
        page, _ = self._call("GET", USERS, 200, params=params)
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise BadGateway("a list that is not a page envelope with items")
        return {
            "items": [_user(item) for item in page["items"]],
            "page": _count(page.get("page"), least=1),
            "page_size": _count(page.get("page_size"), least=1),
            "total": _count(page.get("total"), least=0),
        }

    def get_user(self, user_id: str) -> tuple[dict[str, Any], str]:
        """getUser: the user and its ETag."""
        return self._versioned_user("GET", f"{USERS}/{quote(user_id, safe='')}", 200)

    def create_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """createUser: the created user."""
        return self._versioned_user("POST", USERS, 201, json=user)[0]

    def replace_user(self, user_id: str, user: dict[str, Any], etag: str) -> dict[str, Any]:
        """replaceUser, only if the user is still at `etag` (ApiProblem 412 otherwise)."""
        path = f"{USERS}/{quote(user_id, safe='')}"
        return self._versioned_user("PUT", path, 200, json=user, headers={"If-Match": etag})[0]

    def delete_user(self, user_id: str, etag: str) -> None:
        """deleteUser, only if the user is still at `etag` (ApiProblem 412 otherwise)."""
        path = f"{USERS}/{quote(user_id, safe='')}"
        self._call("DELETE", path, 204, headers={"If-Match": etag})

    def list_versions(self, user_id: str, *, page_size: int) -> dict[str, Any]:
        """listUserVersions: the newest `page_size` versions, as `items` and `total`."""
        path = f"{USERS}/{quote(user_id, safe='')}/versions"
        page, _ = self._call("GET", path, 200, params={"page": 1, "page_size": page_size})
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise BadGateway("a version list that is not a page envelope with items")
        return {
            "items": [_version(item) for item in page["items"]],
            "total": _count(page.get("total"), least=0),
        }

    def get_version(self, user_id: str, version: int) -> dict[str, Any]:
        """getUserVersion: one version of the user."""
        path = f"{USERS}/{quote(user_id, safe='')}/versions/{version}"
        return _version(self._call("GET", path, 200)[0])

    def restore_version(self, user_id: str, version: int, etag: str) -> dict[str, Any]:
        """restoreUserVersion, only if the user is still at `etag` (ApiProblem 412 otherwise)."""
        path = f"{USERS}/{quote(user_id, safe='')}/versions/{version}/restore"
        return self._versioned_user("POST", path, 200, headers={"If-Match": etag})[0]

    def list_trash(self, params: dict[str, Any]) -> dict[str, Any]:
        """listUsers of the trash (deleted=true): the page envelope."""
        return self.list_users({**params, "deleted": "true"})

    def restore_user(self, user_id: str) -> dict[str, Any]:
        """restoreUser: the user back from the trash."""
        path = f"{USERS}/{quote(user_id, safe='')}/restore"
        return self._versioned_user("POST", path, 200)[0]

    def user_stats(self, params: dict[str, Any]) -> dict[str, Any]:
        """getUserStats: counts over the users matching `params`."""
        stats, _ = self._call("GET", f"{USERS}/stats", 200, params=params)
        return _stats(stats)

    def write_access(self) -> str:
        """Whether this client's key lets it write, asked without changing anything.

        Sends a create with no body: the API refuses it for the key first (401, 403) and, past
        the key check, for the missing body (415). Returns "allowed", or the refusal's code
        (`api_key_required`, `api_key_invalid`, `insufficient_scope`).
        """
        try:
            self._call("POST", USERS, 201)
        except ApiProblem as problem:
            return problem.code if problem.status in (401, 403) else "allowed"
        raise BadGateway("the API accepted a create with no body")
