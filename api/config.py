"""Settings: documented defaults, overridden by environment variables.

Every setting is listed in the README's configuration table. `load_config` reads them once, at
app creation; invalid values stop the service with a message naming the variable.
"""

import importlib.util
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import limits


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _flag(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


SCOPES = frozenset({"read", "write"})
KEY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # lowercase, as hashlib and sha256sum write it


@dataclass(frozen=True)
class ApiKey:
    """A configured API key: its name, its scopes and the SHA-256 of the key itself."""

    name: str
    scopes: frozenset[str]
    digest: bytes


def _api_keys(raw: str) -> tuple[ApiKey, ...]:
    """`name:scope[+scope]:sha256hex`, comma-separated (`python -m api new-api-key` makes one)."""
    keys = []
    for number, entry in enumerate(raw.split(","), start=1):
        if not entry.strip():
            continue
        name, _, rest = entry.strip().partition(":")
        scopes, _, digest = rest.partition(":")
        scope_set = frozenset(scopes.split("+"))
        # Messages quote no part of an entry: a key pasted here by mistake must not be logged.
        if not KEY_NAME.fullmatch(name):
            raise ValueError(f"entry {number}: the name must be 1-64 of A-Z a-z 0-9 _ . -")
        if not scope_set <= SCOPES:
            raise ValueError(f"entry {number}: the scopes must be read, write or read+write")
        if not SHA256_HEX.fullmatch(digest):
            raise ValueError(f"entry {number}: the third part must be the key's SHA-256 in hex")
        keys.append(ApiKey(name, scope_set, bytes.fromhex(digest)))
    if len({key.name for key in keys}) != len(keys):
        raise ValueError("two entries have the same name")
    return tuple(keys)


ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def _origins(raw: str) -> tuple[str, ...]:
    """Exact origins, comma-separated: `https://app.example.com,http://localhost:3000`."""
    origins = tuple(origin.strip().lower() for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"{origin!r} is not an origin: scheme://host[:port], no path, no wildcard"
            )
    return origins


def _rate_limit(raw: str) -> str:
    """Rates in the `limits` notation, `;`-separated: `600/minute`, `10/second;600/minute`."""
    try:
        limits.parse_many(raw)
    except ValueError:
        raise ValueError("must be like 600/minute or 10/second;600/minute") from None
    return raw.strip()


def _rate_limit_storage(raw: str) -> str | None:
    """`memory` or `mongodb`; empty for the default (mongodb with MONGODB_URI, else memory)."""
    value = raw.strip().lower()
    if value not in {"", "memory", "mongodb"}:
        raise ValueError("must be memory or mongodb")
    return value or None


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"auto", "json", "text"}:
        raise ValueError("must be auto, json or text")
    return value


EVENT_LOOPS = frozenset({"uvloop", "asyncio"})


def _event_loop(raw: str) -> str:
    """The event loop Hypercorn runs each worker on: `uvloop` (the default) or `asyncio`."""
    value = raw.strip().lower()
    if value not in EVENT_LOOPS:
        raise ValueError("must be uvloop or asyncio")
    return value


def _server_url(raw: str) -> str | None:
    """An absolute http(s) URL without query or fragment, e.g. `https://users.example.com`."""
    url = raw.strip().rstrip("/")
    if not url:
        return None
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
        raise ValueError("must be an http(s) URL such as https://users.example.com")
    return url


def _root_path(raw: str) -> str:
    """The path prefix the service is reached under, e.g. `/users-api`; `/` or empty: none."""
    path = raw.strip().rstrip("/")
    if path and not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+", path):
        raise ValueError("must be a path such as /users-api (no query, no spaces)")
    return path


# name -> (default, parser). The README's configuration table lists the same names.
SETTINGS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "MONGODB_URI": (None, _optional_text),
    "MONGODB_DB": ("users_api", _text),
    "MONGODB_TIMEOUT_MS": (2000, _positive_int),
    "HOST": ("127.0.0.1", _text),
    "PORT": (8000, _port),
    "WORKERS": (1, _positive_int),
    "EVENT_LOOP": ("uvloop", _event_loop),
    "LOG_LEVEL": ("INFO", _log_level),
    "ACCESS_LOG": (False, _flag),
    "LOG_FORMAT": ("auto", _log_format),
    "MAX_PAGE_SIZE": (100, _positive_int),
    "MAX_BODY_BYTES": (1_048_576, _positive_int),
    "MAX_QUERY_BYTES": (2048, _positive_int),
    "GRACEFUL_TIMEOUT": (10, _positive_int),
    "BODY_TIMEOUT": (60, _positive_int),
    "MAX_IN_FLIGHT": (32, _positive_int),
    "REQUIRE_IF_MATCH": (False, _flag),
    "IDEMPOTENCY_TTL_SECONDS": (86_400, _positive_int),
    "MAX_BATCH_ITEMS": (100, _positive_int),
    "API_KEYS": ((), _api_keys),
    "API_KEYS_FOR_READS": (False, _flag),
    "CORS_ORIGINS": ((), _origins),
    "RATE_LIMIT": ("600/minute", _rate_limit),
    "RATE_LIMIT_ENABLED": (True, _flag),
    "OPENAPI_SERVER_URL": (None, _server_url),
    "ROOT_PATH": ("", _root_path),
    "RATE_LIMIT_STORAGE": (None, _rate_limit_storage),
    "HISTORY_MAX_VERSIONS": (50, _non_negative_int),
    "TRASH_TTL_SECONDS": (2_592_000, _positive_int),
}

# Settings whose values are never quoted in an error message.
SECRET = frozenset({"API_KEYS"})


def load_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return every setting, from `environ` where set, else its default.

    Raises ConfigError for a value that does not parse or a combination that cannot work.
    """
    config: dict[str, Any] = {}
    for name, (default, parse) in SETTINGS.items():
        raw = environ.get(name)
        if raw is None:
            config[name] = default
            continue
        try:
            config[name] = parse(raw)
        except ValueError as error:
            shown = "..." if name in SECRET else repr(raw)
            raise ConfigError(f"{name}={shown}: {error}") from None
    check_config(config)
    return config


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError for settings that are valid one by one but not together."""
    if config["WORKERS"] > 1 and config["MONGODB_URI"] is None:
        raise ConfigError(
            f"WORKERS={config['WORKERS']} needs MONGODB_URI: without it every worker process "
            "would hold its own in-memory store, so requests would see different data. "
            "Set MONGODB_URI to a MongoDB server, or use WORKERS=1."
        )
    if config["EVENT_LOOP"] == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError(
            "EVENT_LOOP=uvloop (the default) needs uvloop, which is not installed here "
            "(it has no Windows build): pip install uvloop, or set EVENT_LOOP=asyncio."
        )
    if config["RATE_LIMIT_STORAGE"] == "mongodb" and config["MONGODB_URI"] is None:
        raise ConfigError(
            "RATE_LIMIT_STORAGE=mongodb needs MONGODB_URI: the counts are kept in its database."
        )
    if config["API_KEYS_FOR_READS"] and not config["API_KEYS"]:
        raise ConfigError("API_KEYS_FOR_READS=true needs API_KEYS: no one could read at all.")
