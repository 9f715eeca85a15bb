"""Command line: `python -m api [serve]` serves the API with Hypercorn (what scripts/serve runs);
`python -m api export-openapi DIR` writes the OpenAPI documents, 3.1 and 3.0, JSON and YAML
(what scripts/export-openapi runs).
"""

import argparse
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
    from api import create_app, docs

    for path in docs.write_documents(create_app({}), directory):
        print(f"wrote {path}", file=sys.stderr)
    return 0


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
    args = parser.parse_args(argv)
    if args.command == "export-openapi":
        return export_openapi(args.directory)
    return serve()


if __name__ == "__main__":
    sys.exit(main())
