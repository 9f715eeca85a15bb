"""Settings: documented defaults, overridden by environment variables.

Every setting is listed in the README's configuration table. `load_config` reads them once, at
app creation; invalid values stop the service with a message naming the variable.
"""

import os
from collections.abc import Callable, Mapping
from typing import Any


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


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


# name -> (default, parser). The README's configuration table lists the same names.
SETTINGS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "MONGODB_URI": (None, _optional_text),
    "MONGODB_DB": ("users_api", _text),
    "MONGODB_TIMEOUT_MS": (2000, _positive_int),
    "HOST": ("127.0.0.1", _text),
    "PORT": (8000, _port),
    "WORKERS": (1, _positive_int),
    "LOG_LEVEL": ("INFO", _log_level),
    "ACCESS_LOG": (False, _flag),
    "MAX_PAGE_SIZE": (100, _positive_int),
    "MAX_BODY_BYTES": (1_048_576, _positive_int),
    "MAX_QUERY_BYTES": (2048, _positive_int),
    "GRACEFUL_TIMEOUT": (10, _positive_int),
}


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
            raise ConfigError(f"{name}={raw!r}: {error}") from None
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
