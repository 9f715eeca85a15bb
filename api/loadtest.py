"""A mixed CRUD load against any running users API: `./scripts/loadtest --url URL ...`.

Seeds users through createUsers, then `concurrency` asynchronous clients send requests for
`duration` seconds (and at most `max_requests` in all): reads are getUser (70%) and a filtered
listUsers page (30%); writes are createUser (50%), updateUser (35%) and deleteUser of a user the
same client created (15%). With `--history`, reads are also listUserVersions of a seeded user
and getUserStats by role, and writes also restoreUser of a user the client deleted: reads are
getUser 55%, listUsers 20%, versions 15%, stats 10%; writes createUser 45%, updateUser 30%,
deleteUser 15%, restoreUser 10%. Prints requests per second, p50, p95 and p99 latency and errors per
operation, and writes the same as a JSON report. Any answer other than the operation's success
status counts as an error; the exit code is 1 when errors exceed `--max-error-rate`. A failed
seeding, such as a 401 or 403 (keys required, or a key without the write scope), ends the run
at once with one line saying why (exit 2). `--cleanup` deletes what the run left behind.

One Python process of httpx clients sends a few thousand requests per second at most; to
measure a server faster than that, use wrk (../shared/bench) or several load processes.
"""

import argparse
import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.seeding import ROLES, fake_users

USERS = "/api/v1/users"
SUCCESS = {"get": 200, "list": 200, "create": 201, "update": 200, "delete": 204}
# The operations --history adds to the mix (issue 15), with their success statuses.
HISTORY = {"versions": 200, "stats": 200, "restore": 200}
# Operations and their weights, without and with --history.
READS = {
    False: (["get", "list"], [70, 30]),
    True: (["get", "list", "versions", "stats"], [55, 20, 15, 10]),
}
WRITES = {
    False: (["create", "update", "delete"], [50, 35, 15]),
    True: (["create", "update", "delete", "restore"], [45, 30, 15, 10]),
}


class Stopped(Exception):
    """Seeding failed (a key refused, a rate limit...): nothing useful can be measured."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LoadTest:
    """One run of the load: its parameters (the command's options) and what it measured."""

    url: str
    _: KW_ONLY
    concurrency: int
    duration: float
    read_ratio: float
    seed_users: int
    max_requests: int
    timeout: float
    seed: int
    api_key: str | None = None
    cleanup: bool = False
    history: bool = False
    created: list[str] = field(init=False, default_factory=list)  # by every client, not deleted
    run_id: str = field(init=False, default_factory=lambda: uuid.uuid4().hex[:8])
    latencies: dict[str, list[float]] = field(init=False, default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(
        init=False, default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    sent: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.headers = {"X-API-Key": self.api_key} if self.api_key else {}
        self.success = {**SUCCESS, **(HISTORY if self.history else {})}

    async def run(self) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.url, limits=limits, timeout=self.timeout, headers=self.headers
        ) as http:
            seeded = await self._seed(http)
            started = time.perf_counter()
            deadline = started + self.duration
            await asyncio.gather(
                *(self._client(http, n, seeded, deadline) for n in range(self.concurrency))
            )
            elapsed = time.perf_counter() - started
            report = self._report(elapsed, len(seeded))
            if self.cleanup:
                report["deleted_after"] = await self._delete(http, [*seeded, *self.created])
        return report

    async def _delete(self, http: httpx.AsyncClient, ids: list[str]) -> int:
        """Delete these users, `concurrency` at a time; how many were deleted."""
        deleted = 0
        for start in range(0, len(ids), self.concurrency):
            chunk = ids[start : start + self.concurrency]
            responses = await asyncio.gather(
                *(http.delete(f"{USERS}/{user_id}") for user_id in chunk), return_exceptions=True
            )
            deleted += sum(
                isinstance(response, httpx.Response) and response.status_code == 204
                for response in responses
            )
        return deleted

    async def _seed(self, http: httpx.AsyncClient) -> list[str]:
        ids: list[str] = []
        users = list(fake_users(self.seed_users, seed=self.seed))
        for user in users:
            user["email"] = f"{self.run_id}.{user['email']}"
        for start in range(0, len(users), 100):
            response = await http.post(f"{USERS}/batch", json={"items": users[start : start + 100]})
            if response.status_code != 200:
                raise Stopped(self._refusal(response))
            ids += [
                item["user"]["id"] for item in response.json()["items"] if item["status"] == 201
            ]
        if not ids:
            raise SystemExit("loadtest: seeding created no users; is this the users API?")
        return ids

    def _refusal(self, response: httpx.Response) -> str:
        try:
            code = response.json()["code"]
        except (ValueError, KeyError, TypeError):
            code = "no problem details"
        if response.status_code == 403:
            advice = "the key given with --api-key lacks the write scope"
        elif response.status_code == 401 and self.headers:
            advice = "the API does not know the key given with --api-key"
        elif response.status_code == 401:
            advice = "the API requires keys: pass --api-key with a key of write scope"
        else:
            advice = "seeding failed"
        return f"{self.url} answered {response.status_code} ({code}): {advice}."

    async def _client(
        self, http: httpx.AsyncClient, number: int, seeded: list[str], deadline: float
    ) -> None:
        rng = random.Random(self.seed * 1000 + number)
        created: list[str] = []
        deleted: list[str] = []  # by this client, so in the trash, until restored
        count = 0
        while time.perf_counter() < deadline and self.sent < self.max_requests:
            self.sent += 1
            count += 1
            if rng.random() < self.read_ratio:
                op = rng.choices(*READS[self.history])[0]
                if op == "get":
                    request = http.build_request("GET", f"{USERS}/{rng.choice(seeded)}")
                elif op == "versions":
                    path = f"{USERS}/{rng.choice(seeded)}/versions"
                    request = http.build_request("GET", path, params={"page_size": 20})
                else:
                    params: dict[str, str | int] = {"role": rng.choice(ROLES)}
                    path = USERS if op == "list" else f"{USERS}/stats"
                    if op == "list":
                        params["page_size"] = 20
                    request = http.build_request("GET", path, params=params)
            else:
                op = rng.choices(*WRITES[self.history])[0]
                if op == "restore" and not deleted:
                    op = "delete"
                if op == "delete" and not created:
                    op = "create"
                if op == "create":
                    email = f"{self.run_id}.load.{number}.{count}@example.com"
                    body: dict[str, Any] = {
                        "name": f"Load {number} {count}",
                        "email": email,
                        "role": rng.choice(ROLES),
                    }
                    request = http.build_request("POST", USERS, json=body)
                elif op == "update":
                    body = {"active": rng.random() < 0.5}
                    request = http.build_request(
                        "PATCH", f"{USERS}/{rng.choice(seeded)}", json=body
                    )
                elif op == "restore":
                    path = f"{USERS}/{deleted.pop()}/restore"
                    request = http.build_request("POST", path)
                else:
                    deleted.append(created.pop())
                    request = http.build_request("DELETE", f"{USERS}/{deleted[-1]}")
            await self._send(http, op, request, created)
        self.created += created

    async def _send(
        self, http: httpx.AsyncClient, op: str, request: httpx.Request, created: list[str]
    ) -> None:
        started = time.perf_counter()
        try:
            response = await http.send(request)
        except httpx.HTTPError as error:
            self.errors[op][type(error).__name__] += 1
            return
        self.latencies[op].append(time.perf_counter() - started)
        if response.status_code != self.success[op]:
            self.errors[op][str(response.status_code)] += 1
        elif op in ("create", "restore"):  # a restored user is live again, to delete
            created.append(response.json()["id"])

    def _report(self, elapsed: float, seeded: int) -> dict[str, Any]:
        def summary(latencies: list[float], errors: dict[str, int]) -> dict[str, Any]:
            ordered = sorted(latencies)
            # Every answer has a latency, error statuses included; transport errors have none.
            unanswered = sum(count for cause, count in errors.items() if not cause.isdigit())
            requests = len(latencies) + unanswered
            return {
                "requests": requests,
                "rps": round(requests / elapsed, 1),
                "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
                "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
                "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
                "errors": sum(errors.values()),
                "errors_by_cause": dict(errors),
            }

        operations = {op: summary(self.latencies[op], self.errors[op]) for op in self.success}
        everything = [value for values in self.latencies.values() for value in values]
        all_errors: dict[str, int] = defaultdict(int)
        for causes in self.errors.values():
            for cause, count in causes.items():
                all_errors[cause] += count
        return {
            "url": self.url,
            "concurrency": self.concurrency,
            "duration_s": round(elapsed, 2),
            "read_ratio": self.read_ratio,
            "seeded_users": seeded,
            "total": summary(everything, all_errors),
            "operations": operations,
        }


def print_report(report: dict[str, Any]) -> None:
    columns = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(
        f"{report['url']}: {report['concurrency']} clients, {report['duration_s']} s, "
        f"read ratio {report['read_ratio']}"
    )
    print(f"{'operation':<10}" + "".join(f"{name:>10}" for name in columns) + f"{'errors':>8}")
    rows = [*report["operations"].items(), ("total", report["total"])]
    for name, row in rows:
        print(
            f"{name:<10}{row['requests']:>10}{row['rps']:>10}{row['p50_ms']:>10}"
            f"{row['p95_ms']:>10}{row['p99_ms']:>10}{row['errors']:>8}"
        )


def main(args: argparse.Namespace) -> int:
    test = LoadTest(
        args.url,
        concurrency=args.concurrency,
        duration=args.duration,
        read_ratio=args.read_ratio,
        seed_users=args.seed_users,
        max_requests=args.max_requests,
        timeout=args.timeout,
        seed=args.seed,
        api_key=args.api_key,
        cleanup=args.cleanup,
        history=args.history,
    )
    try:
        report = asyncio.run(test.run())
    except Stopped as stop:
        print(f"loadtest: {stop}", file=sys.stderr)
        return 2
    total = report["total"]
    rate = total["errors"] / total["requests"] if total["requests"] else 0.0
    report["error_rate"] = round(rate, 6)
    print_report(report)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.report}")
    if rate > args.max_error_rate:
        print(
            f"loadtest: {total['errors']} of {total['requests']} requests failed ({rate:.2%}), "
            f"more than --max-error-rate {args.max_error_rate:.2%}",
            file=sys.stderr,
        )
        return 1
    return 0
