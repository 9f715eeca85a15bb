"""`python -m frontend`: serve the frontend with Hypercorn (what scripts/serve-frontend runs)."""

import logging
import sys

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as run_hypercorn

from frontend.config import ConfigError, load_config


def main() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        print(f"frontend: invalid configuration: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
    host, port = config["HOST"], config["PORT"]
    hypercorn = HypercornConfig()
    hypercorn.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hypercorn.application_path = "wsgi:frontend:create_wsgi_app()"
    hypercorn.workers = 0
    hypercorn.errorlog = logging.getLogger("hypercorn.error")
    print(
        f"Users frontend on http://{host}:{port}/ - API at {config['BACKEND_URL']}",
        file=sys.stderr,
        flush=True,
    )
    return run_hypercorn(hypercorn)


if __name__ == "__main__":
    sys.exit(main())
