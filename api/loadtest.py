"""A mixed CRUD load against any running users API: `./scripts/loadtest --url URL ...`.

Seeds users through createUsers, then `concurrency` asynchronous clients send requests for
`duration` seconds (and at most `max_requests` in all): reads are getUser (70%) and a filtered
listUsers page (30%); writes are createUser (50%), updateUser (35%) and deleteUser of a user the
same client created (15%). Prints requests per second, p50, p95 and p99 latency and errors per
operation, and writes the same as a JSON report. Any answer other than the operation's success
status counts as an error.

One Python process of httpx clients sends a few thousand requests per second at most; to
measure a server faster than that, use wrk (../shared/bench) or several load processes.
"""

import asyncio
import json
import math
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from api.seeding import ROLES, fake_users

USERS = "/api/v1/users"
SUCCESS = {"get": 200, "list": 200, "create": 201, "update": 200, "delete": 204}


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class LoadTest:
    def __init__(
        self,
        url: str,
        *,
        concurrency: int,
        duration: float,
        read_ratio: float,
        seed_users: int,
        max_requests: int,
        timeout: float,
        seed: int,
    ) -> None:
        self.url = url.rstrip("/")
        self.concurrency = concurrency
        self.duration = duration
        self.read_ratio = read_ratio
        self.seed_users = seed_users
        self.max_requests = max_requests
        self.timeout = timeout
        self.seed = seed
        self.run_id = uuid.uuid4().hex[:8]
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.sent = 0

    async def run(self) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.url, limits=limits, timeout=self.timeout
        ) as http:
            seeded = await self._seed(http)
            started = time.perf_counter()
            deadline = started + self.duration
            await asyncio.gather(
                *(self._client(http, n, seeded, deadline) for n in range(self.concurrency))
            )
            elapsed = time.perf_counter() - started
        return self._report(elapsed, len(seeded))

    async def _seed(self, http: httpx.AsyncClient) -> list[str]:
        ids: list[str] = []
        users = list(fake_users(self.seed_users, seed=self.seed))
        for user in users:
            user["email"] = f"{self.run_id}.{user['email']}"
        for start in range(0, len(users), 100):
            response = await http.post(f"{USERS}/batch", json={"items": users[start : start + 100]})
            response.raise_for_status()
            ids += [
                item["user"]["id"] for item in response.json()["items"] if item["status"] == 201
            ]
        if not ids:
            raise SystemExit("loadtest: seeding created no users; is this the users API?")
        return ids

    async def _client(
        self, http: httpx.AsyncClient, number: int, seeded: list[str], deadline: float
    ) -> None:
        rng = random.Random(self.seed * 1000 + number)
        created: list[str] = []
        count = 0
        while time.perf_counter() < deadline and self.sent < self.max_requests:
            self.sent += 1
            count += 1
            if rng.random() < self.read_ratio:
                if rng.random() < 0.7:
                    op, request = "get", http.build_request("GET", f"{USERS}/{rng.choice(seeded)}")
                else:
                    params = {"role": rng.choice(ROLES), "page_size": 20}
                    op, request = "list", http.build_request("GET", USERS, params=params)
            else:
                op = rng.choices(["create", "update", "delete"], [50, 35, 15])[0]
                if op == "delete" and not created:
                    op = "create"
                if op == "create":
                    email = f"{self.run_id}.load.{number}.{count}@example.com"
                    body = {
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
                else:
                    request = http.build_request("DELETE", f"{USERS}/{created.pop()}")
            await self._send(http, op, request, created)

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
        if response.status_code != SUCCESS[op]:
            self.errors[op][str(response.status_code)] += 1
        elif op == "create":
            created.append(response.json()["id"])

    def _report(self, elapsed: float, seeded: int) -> dict[str, Any]:
        def summary(latencies: list[float], errors: dict[str, int]) -> dict[str, Any]:
            ordered = sorted(latencies)
            return {
                "requests": len(latencies) + sum(errors.values()),
                "rps": round((len(latencies) + sum(errors.values())) / elapsed, 1),
                "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
                "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
                "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
                "errors": sum(errors.values()),
                "errors_by_cause": dict(errors),
            }

        operations = {op: summary(self.latencies[op], self.errors[op]) for op in SUCCESS}
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


def main(args: Any) -> int:
    test = LoadTest(
        args.url,
        concurrency=args.concurrency,
        duration=args.duration,
        read_ratio=args.read_ratio,
        seed_users=args.seed_users,
        max_requests=args.max_requests,
        timeout=args.timeout,
        seed=args.seed,
    )
    report = asyncio.run(test.run())
    print_report(report)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.report}")
    return 1 if report["total"]["errors"] else 0
