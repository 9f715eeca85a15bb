"""Command line: `python -m api [serve]` serves the API with Hypercorn (what scripts/serve runs);
`python -m api export-openapi DIR` writes the OpenAPI document (what scripts/export-openapi runs);
`python -m api new-api-key NAME` makes an API key and its API_KEYS entry.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as run_hypercorn

from api.config import ConfigError, load_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def serve() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        print(f"users-api: invalid configuration: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config["LOG_LEVEL"], format=LOG_FORMAT)

    host, port = config["HOST"], config["PORT"]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hypercorn = HypercornConfig()
    hypercorn.bind = [address]
    hypercorn.application_path = "api:create_asgi_app()"
    # Hypercorn runs in this process with workers=0; with N > 1 it starts N worker processes.
    hypercorn.workers = 0 if config["WORKERS"] == 1 else config["WORKERS"]
    hypercorn.graceful_timeout = config["GRACEFUL_TIMEOUT"]
    hypercorn.loglevel = config["LOG_LEVEL"]
    # Logger objects, not "-": Hypercorn then logs through our root handler and format, once.
    hypercorn.errorlog = logging.getLogger("hypercorn.error")
    hypercorn.accesslog = logging.getLogger("hypercorn.access") if config["ACCESS_LOG"] else None
    print(
        f"Users API on http://{address}/api/v1/users - docs: http://{address}/docs",
        file=sys.stderr,
        flush=True,
    )
    return run_hypercorn(hypercorn)


def export_openapi(directory: Path) -> int:
    import yaml  # a development dependency: exporting the spec is a development task

    from api import create_app, openapi_document

    spec = openapi_document(create_app({}))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openapi.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    (directory / "openapi.yaml").write_text(
        yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)
    )
    print(f"wrote {directory}/openapi.json and {directory}/openapi.yaml", file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "serve", help="serve the API (the default); configured by environment variables"
    )
    export = commands.add_parser("export-openapi", help="write openapi.json and openapi.yaml")
    export.add_argument("directory", type=Path)
    key = commands.add_parser("new-api-key", help="make an API key and its API_KEYS entry")
    key.add_argument("name", help="who the key is for, e.g. ci (A-Z a-z 0-9 _ . -)")
    key.add_argument("--scopes", default="read+write", help="read, write or read+write")
    args = parser.parse_args(argv)
    if args.command == "export-openapi":
        return export_openapi(args.directory)
    if args.command == "new-api-key":
        return new_api_key(args.name, args.scopes)
    return serve()


if __name__ == "__main__":
    sys.exit(main())
