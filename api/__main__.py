"""Command line: `python -m api [serve]` serves the API with Hypercorn (what scripts/serve runs);
`python -m api export-openapi DIR` writes the OpenAPI documents, 3.1 and 3.0, JSON and YAML
(what scripts/export-openapi runs); `python -m api seed --users N` fills the MongoDB at
MONGODB_URI with realistic users; `python -m api loadtest --url URL` loads a running API (what
scripts/loadtest runs); `python -m api new-api-key NAME` makes an API key and its API_KEYS entry.
"""

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as run_hypercorn
from pythonjsonlogger.json import JsonFormatter

from api.config import ConfigError, load_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]


def configure_logging(level: str, style: str) -> None:
    """One line per record on stderr: JSON objects (LOG_FORMAT=json) or text (text); with
    `auto`, text on a terminal and JSON otherwise (for a log collector)."""
    handler = logging.StreamHandler()
    if style == "json" or (style == "auto" and not sys.stderr.isatty()):
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def serve() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        print(f"users-api: invalid configuration: {error}", file=sys.stderr)
        return 2
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])

    host, port = config["HOST"], config["PORT"]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hypercorn = HypercornConfig()
    hypercorn.bind = [address]
    hypercorn.application_path = "api:create_asgi_app()"
    # Hypercorn runs in this process with workers=0; with N > 1 it starts N worker processes.
    hypercorn.workers = 0 if config["WORKERS"] == 1 else config["WORKERS"]
    hypercorn.graceful_timeout = config["GRACEFUL_TIMEOUT"]
    # uvloop: the loop's own work (sockets, callbacks, timers) is half of a small request's CPU
    # on Hypercorn, and uvloop does it in C: get_by_id 4 to 9% faster in paired runs (README
    # Performance).
    hypercorn.worker_class = config["EVENT_LOOP"]
    # No read_timeout (Hypercorn's default): it would bound nothing the other bounds do not.
    # Hypercorn reads a connection only between requests and during a body: between requests
    # keep_alive_timeout (5 s) closes it, also while a head trickles in; a body has the whole
    # of BODY_TIMEOUT (api/serving.py). While a request runs, Hypercorn waits for it before
    # reading again, so a read_timeout never fires then either, and each read it bounds costs
    # a task and two turns of the loop (asyncio.wait_for): 3% of a read by id.
    hypercorn.loglevel = config["LOG_LEVEL"]
    # A Logger object, not "-": Hypercorn then logs through our root handler and format, once.
    hypercorn.errorlog = logging.getLogger("hypercorn.error")
    hypercorn.accesslog = None  # ACCESS_LOG is api.access's structured line (observability.py)
    refused = bind_error(hypercorn)
    if refused is not None:
        print(
            f"users-api: cannot listen on {address}: {refused.strerror or refused}. "
            "Stop what uses it, or set PORT (or HOST) to another one.",
            file=sys.stderr,
        )
        return 2
    print(
        f"Users API on http://{address}/api/v1/users - docs: http://{address}/docs",
        file=sys.stderr,
        flush=True,
    )
    code = run_hypercorn(hypercorn)
    exit_at_once(code)


def exit_at_once(code: int) -> NoReturn:
    """End the process once Hypercorn has returned, without the interpreter's finalization.

    By then every connection is closed and the store with them (the lifespan's shutdown). What
    finalization would still do is free every object and end the greenlets of requests
    cancelled at GRACEFUL_TIMEOUT, which measured up to 1.3 s under a CPU-heavy load: beyond
    the exit bound the README states. Logs and output are flushed first; Hypercorn's worker
    processes (WORKERS > 1) already end this way, as multiprocessing ends its children. So is
    the coverage the tests measure this process with, which would be saved at exit otherwise.
    """
    measuring = sys.modules.get("coverage")
    current = measuring.Coverage.current() if measuring is not None else None
    if current is not None:
        current.stop()
        current.save()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def bind_error(config: HypercornConfig) -> OSError | None:
    """Why Hypercorn could not listen where `config` says (a port in use...), or None.

    Checked by binding and closing first: Hypercorn's own failure would be a traceback.
    """
    try:
        sockets = config.create_sockets()
    except OSError as error:
        return error
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets]:
        sock.close()
    return None


def export_openapi(directory: Path) -> int:
    from api import create_app, docs

    for path in docs.write_documents(create_app({}), directory):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def seed(count: int, batch_size: int, seed_value: int) -> int:
    from tqdm import tqdm

    from api.db import Store
    from api.seeding import seed_users

    try:
        config = load_config()
    except ConfigError as error:
        print(f"users-api: invalid configuration: {error}", file=sys.stderr)
        return 2
    if config["MONGODB_URI"] is None:
        print(
            "users-api seed: set MONGODB_URI. The in-memory store lives inside the serving "
            "process; seed it over HTTP instead: ./scripts/loadtest --seed-users N ...",
            file=sys.stderr,
        )
        return 2
    store = Store.from_config(config)

    async def run() -> tuple[int, int]:
        with tqdm(total=count, unit="user", desc="seeding") as bar:
            try:
                return await seed_users(
                    store, count, batch_size=batch_size, seed=seed_value, progress=bar.update
                )
            finally:
                store.close()

    created, skipped = asyncio.run(run())
    print(f"created {created} users; {skipped} were already there", file=sys.stderr)
    return 0


def new_api_key(name: str, scopes: str) -> int:
    from api.security import new_api_key

    key, digest = new_api_key()
    entry = f"{name}:{scopes}:{digest}"
    try:
        load_config({"API_KEYS": entry})
    except ConfigError as error:
        print(f"users-api: {error}", file=sys.stderr)
        return 2
    print(f"API key for {name!r} (shown once: hand it to the client, keep no copy):\n  {key}")
    print(f"Its API_KEYS entry (comma-separated from the others):\n  {entry}")
    return 0


def loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m api loadtest` (api/loadtest.py), each with its default."""
    option = parser.add_argument
    option("--url", default="http://127.0.0.1:8000", help="base URL of the API")
    option(
        "--api-key",
        default=None,
        help="sent as X-API-Key with every request; needs the write scope where the API sets "
        "API_KEYS (./scripts/new-api-key NAME)",
    )
    option("--concurrency", type=int, default=32, help="concurrent clients")
    option("--duration", type=float, default=30, help="seconds of load")
    option("--read-ratio", type=float, default=0.8, help="share of reads, 0 to 1")
    option("--seed-users", type=int, default=100, help="users created first, for the reads")
    option("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    option("--timeout", type=float, default=10, help="seconds per request")
    option("--seed", type=int, default=0, help="random seed: same seed, same requests")
    option(
        "--max-error-rate",
        type=float,
        default=0.01,
        help="share of requests that may fail (0 to 1) before the exit code is 1",
    )
    option(
        "--cleanup",
        action="store_true",
        help="delete the users this run seeded and created, once it is over",
    )
    option(
        "--history",
        action="store_true",
        help="add versions, insights and restores from the trash to the mix",
    )
    option("--report", default="loadtest-report.json", help="where to write the JSON report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "serve", help="serve the API (the default); configured by environment variables"
    )
    export = commands.add_parser(
        "export-openapi", help="write the OpenAPI 3.1 and 3.0 documents (JSON and YAML)"
    )
    export.add_argument("directory", type=Path)
    seeding = commands.add_parser("seed", help="fill the MongoDB at MONGODB_URI with users")
    seeding.add_argument("--users", type=int, required=True, help="how many")
    seeding.add_argument("--batch-size", type=int, default=500, help="users per insert")
    seeding.add_argument("--seed", type=int, default=0, help="random seed: same seed, same users")
    load = commands.add_parser(
        "loadtest",
        help="mixed CRUD load against a running API",
        description="Mixed CRUD load against a running users API (./scripts/loadtest).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    loadtest_arguments(load)
    key = commands.add_parser("new-api-key", help="make an API key and its API_KEYS entry")
    key.add_argument("name", help="who the key is for, e.g. ci (A-Z a-z 0-9 _ . -)")
    key.add_argument("--scopes", default="read+write", help="read, write or read+write")
    args = parser.parse_args(argv)
    if args.command == "loadtest":
        from api import loadtest  # httpx: in the loadtest extra only

        return loadtest.main(args)
    if args.command == "export-openapi":
        return export_openapi(args.directory)
    if args.command == "seed":
        return seed(args.users, args.batch_size, args.seed)
    if args.command == "new-api-key":
        return new_api_key(args.name, args.scopes)
    return serve()


if __name__ == "__main__":
    sys.exit(main())
