"""schemathesis hooks of tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS)."""

import re
import uuid
from typing import Any

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Send a fresh Idempotency-Key, as a client does for each new request.

    schemathesis would reuse one key (the spec's example, a coverage value) with different
    bodies, which the API rightly refuses (422 idempotency_key_reused). A malformed key is left
    as generated, for the negative tests that expect its 400.
    """
    del context, kwargs
    headers = case.headers or {}
    if VALID_KEY.fullmatch(str(headers.get("Idempotency-Key", ""))):
        headers["Idempotency-Key"] = uuid.uuid4().hex
