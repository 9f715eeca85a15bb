"""The frontend's settings: documented defaults, overridden by environment variables.

The README's "Two services" section lists them. Invalid values stop the service with a message.
"""

import os
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the frontend cannot run with."""


def load_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every setting, from `environ` where set, else its default."""
    try:
        port = int(environ.get("FRONTEND_PORT", "8080"))
        timeout = float(environ.get("BACKEND_TIMEOUT_SECONDS", "5"))
    except ValueError as error:
        raise ConfigError(
            f"FRONTEND_PORT and BACKEND_TIMEOUT_SECONDS must be numbers: {error}"
        ) from None
    if not 0 <= port <= 65535 or timeout <= 0:
        raise ConfigError("FRONTEND_PORT must be 0 to 65535 and BACKEND_TIMEOUT_SECONDS above 0")
    backend = environ.get("BACKEND_URL", "http://127.0.0.1:8000").rstrip("/")
    if not backend.startswith(("http://", "https://")):
        raise ConfigError(f"BACKEND_URL={backend!r} must be an http:// or https:// URL")
    return {
        "FRONTEND_HOST": environ.get("FRONTEND_HOST", "127.0.0.1"),
        "FRONTEND_PORT": port,
        "BACKEND_URL": backend,
        "BACKEND_TIMEOUT_SECONDS": timeout,
        "API_KEY": environ.get("API_KEY") or None,
        "SECRET_KEY": environ.get("FRONTEND_SECRET_KEY") or None,
    }
