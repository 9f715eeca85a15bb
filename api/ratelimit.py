"""Rate limiting per client: 429 with Retry-After and RateLimit headers, shared by N instances.

A client is its API key when it presents a valid one, else its address, so wrong keys count
against the address they come from and guessing keys is slowed like anything else. RATE_LIMIT
is one budget per client for every request that reaches the app: API routes, and also unknown
paths (404), unknown methods (405) and malformed requests, since the limiter is the first check
of each request. Probes, docs and CORS preflights (OPTIONS with Access-Control-Request-Method)
are neither counted nor refused. RATE_LIMIT_ENABLED=false turns limiting off (load tests).

Each rate is a sliding window counter. Windows are aligned to the clock (a minute's window is
a clock minute); a request weighs the count of the current window plus the previous window's
count times the share of that window still within the last minute. A request over any rate is
refused (429) and not counted, so a client that waits as Retry-After says gets through.

The counts live where RATE_LIMIT_STORAGE says (api/counters.py). `mongodb`, the default with
MONGODB_URI: in MongoDB, so every instance on the database counts together and N instances
allow the limit once; each limited request adds one round trip (the increments and the read of
the previous windows are sent together), awaited on the serving loop, which serves other
requests meanwhile. `memory`, the default of the embedded store: in the worker's memory, no I/O,
but each worker counts alone and a restart forgets. A MongoDB that does not answer makes
limited requests 503, as it would make their storage calls.

Headers as in draft-ietf-httpapi-ratelimit-headers-06, on every limited response, for the
tightest rate (the one with the fewest requests left): `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (whole seconds until one more request would be let through, at most the
window) and `RateLimit-Policy` (`600;w=60`); `Retry-After` on a 429.
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import flask
import limits

from api import counters, problems, security
from api.spec import RATE_LIMIT_HEADER_REFS, Api, add_error_responses


def client_key() -> str:
    """Whom a request is counted against: its valid API key, else its address."""
    key = security.api_key()
    if key is not None:
        return f"key:{key.name}"
    return f"address:{flask.request.remote_addr}"


def _exempt() -> bool:
    request = flask.request
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    return preflight or request.blueprint in security.OPEN_BLUEPRINTS


@dataclass(frozen=True)
class Verdict:
    """One rate's answer to one request."""

    rate: limits.RateLimitItem
    allowed: bool
    remaining: int
    reset: int  # seconds until one more request would be let through


@dataclass(frozen=True)
class _Window:
    """Where a request falls in the clock-aligned windows of one rate."""

    rate: limits.RateLimitItem
    key: str  # the counter's: one per client and rate
    number: int  # windows since the Unix epoch
    elapsed: float  # seconds since this window began

    @classmethod
    def of(cls, rate: limits.RateLimitItem, client: str, now: float) -> "_Window":
        seconds = rate.get_expiry()
        number = int(now // seconds)
        key = f"{client}|{rate.amount}/{seconds}"
        return cls(rate, key, number, elapsed=now - number * seconds)

    @property
    def needed_until(self) -> float:
        # Its count weighs as the previous window's throughout the next one.
        return (self.number + 2) * self.rate.get_expiry()

    def verdict(self, previous: int, current: int) -> Verdict:
        """Judge the request from the counts, `current` including the request itself."""
        seconds = self.rate.get_expiry()
        from_previous = math.floor(previous * (1 - self.elapsed / seconds))
        allowed = from_previous + current <= self.rate.amount
        if not allowed:
            current -= 1  # the refused request is taken back
        return Verdict(
            self.rate,
            allowed,
            remaining=max(0, self.rate.amount - from_previous - current),
            reset=math.ceil(self._until_one_is_freed(previous, from_previous, current)),
        )

    def _until_one_is_freed(self, previous: int, from_previous: int, current: int) -> float:
        # The previous window's weight falls linearly to 0 over the current window: its share
        # loses one request when previous * (1 - t / seconds) falls below from_previous. With
        # nothing left to lose there, the current window's count loses one just after it ends.
        # Both are at most `seconds` away: never more than the window.
        seconds = self.rate.get_expiry()
        if from_previous >= 1:
            return seconds * (1 - from_previous / previous) - self.elapsed
        if current >= 1:
            return seconds - self.elapsed
        return 0.0


class Limiter:
    """Counts each limited request against every rate; refuses it when one is exceeded."""

    def __init__(self, rates: list[limits.RateLimitItem], store: counters.Counters):
        self.rates = rates
        self.counters = store

    def judge(self, client: str, now: float) -> Verdict:
        """Count a request of `client` at Unix time `now`; return the verdict to show: a
        refusing rate's if any, else that of the rate with the fewest requests left.

        When any rate refuses it, the request is taken back from every counter. Needs an app
        context: the counters may have to be awaited on the app's loop.
        """
        ensure_sync = flask.current_app.ensure_sync
        windows = [_Window.of(rate, client, now) for rate in self.rates]
        counted = {window.key: (window.number, window.needed_until) for window in windows}
        counts = ensure_sync(self.counters.add)(counted)
        verdicts = [
            window.verdict(previous, current)
            for window, (previous, current) in zip(windows, counts, strict=True)
        ]
        if not all(verdict.allowed for verdict in verdicts):
            ensure_sync(self.counters.take_back)(counted)
        return min(verdicts, key=lambda verdict: (verdict.allowed, verdict.remaining))

    def check(self) -> None:
        """before_request: count the request; raise the 429 if it is over a rate."""
        if _exempt():
            return
        verdict = self.judge(client_key(), time.time())
        flask.g.rate_limit = verdict
        if not verdict.allowed:
            raise problems.RATE_LIMITED.error(rate=verdict.rate)

    @staticmethod
    def add_headers(response: flask.Response) -> flask.Response:
        """after_request: the RateLimit headers of a limited request, Retry-After on a 429."""
        verdict: Verdict | None = flask.g.get("rate_limit")
        if verdict is None:  # not a limited request
            return response
        headers = response.headers
        headers["RateLimit-Limit"] = str(verdict.rate.amount)
        headers["RateLimit-Remaining"] = str(verdict.remaining)
        headers["RateLimit-Reset"] = str(verdict.reset)
        headers["RateLimit-Policy"] = f"{verdict.rate.amount};w={verdict.rate.get_expiry()}"
        if not verdict.allowed:
            headers["Retry-After"] = str(max(1, verdict.reset))
        return response


def _document(blueprint: str, _method: str, operation: dict[str, Any]) -> None:
    if blueprint in security.OPEN_BLUEPRINTS:
        return
    add_error_responses(operation, 429)
    # The operation's own responses; the error responses it shares document them already.
    for status, response in operation["responses"].items():
        if isinstance(response, dict):
            operation["responses"][status] = {
                **response,
                "headers": {**response.get("headers", {}), **RATE_LIMIT_HEADER_REFS},
            }


def init_app(app: flask.Flask, api: Api) -> None:
    """Count every limited request before anything else checks it; document the 429.

    Call it before the other request checks are registered: hooks run in that order.
    """
    api.operation_docs.documenters.append(_document)
    if not app.config["RATE_LIMIT_ENABLED"]:
        return
    storage = counters.for_store(app.extensions["store"], app.config["RATE_LIMIT_STORAGE"])
    limiter = Limiter(limits.parse_many(app.config["RATE_LIMIT"]), storage)
    app.extensions["limiter"] = limiter
    app.before_request(limiter.check)
    app.after_request(limiter.add_headers)
