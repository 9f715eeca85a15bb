"""The frontend's settings: documented defaults, overridden by environment variables.

Configured like the API (HOST, PORT, ...): the README's frontend section lists every name. Invalid
values stop the service with a message naming the variable (never quoting a secret's value).
"""

import os
from collections.abc import Callable, Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the frontend cannot run with."""


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:  # also refuses nan and inf
        raise ValueError("must be above 0 and at most 3600")
    return value


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


# name -> (default, parser). The README's frontend table lists the same names.
SETTINGS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "HOST": ("127.0.0.1", _text),
    "PORT": (8080, _port),
    "BACKEND_URL": ("http://127.0.0.1:8000", _url),
    "BACKEND_TIMEOUT_SECONDS": (5.0, _seconds),
    "BACKEND_MAX_RESPONSE_BYTES": (4_194_304, _positive_int),
    "API_KEY": (None, _optional_text),
    "FRONTEND_SECRET_KEY": (None, _optional_text),
    "TRUSTED_PROXY_HOPS": (0, _count),
}

# Settings whose values are never quoted in an error message.
SECRET = frozenset({"API_KEY", "FRONTEND_SECRET_KEY"})


def load_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every setting, parsed from `environ` where set, else its default; ConfigError otherwise."""
    config: dict[str, Any] = {}
    for name, (default, parse) in SETTINGS.items():
        if name not in environ:
            config[name] = default
            continue
        try:
            config[name] = parse(environ[name])
        except ValueError as error:
            shown = "" if name in SECRET else f"={environ[name]!r}"
            # int() and float() explain in their own words, which quote the value: ours do not.
            reason = str(error) if str(error).startswith("must") else "must be a number"
            raise ConfigError(f"{name}{shown}: {reason}") from None
    return config
