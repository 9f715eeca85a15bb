"""A real `python -m api` (Hypercorn) process on a free port, for the live tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# PyMongo re-checks server selection every 0.5 s, so a timeout is noticed up to 0.5 s late.
SELECTION_GRANULARITY = 0.5


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp_path: Path, **settings: str) -> Server:
    """`python -m api` on a free port, in-memory unless `settings` say otherwise."""
    port = free_port()
    # Every test client shares 127.0.0.1: rate limiting is on only where a test asks for it;
    # so is load shedding (MAX_IN_FLIGHT), which bursts of concurrent test clients would meet.
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_ENABLED": "false",
        "MAX_IN_FLIGHT": "1000",
        **settings,
    }
    return start_process(tmp_path, "api", port, "/health/live", env)


def start_frontend(tmp_path: Path, backend_url: str, **settings: str) -> Server:
    """`python -m frontend` on a free port, reaching the API at `backend_url`."""
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BACKEND_URL": backend_url,
        "FRONTEND_SECRET_KEY": "live-test-secret",
        **settings,
    }
    return start_process(tmp_path, "frontend", port, "/users", env)


def environment(**settings: str) -> dict[str, str]:
    """This process's environment for a `python -m` of the tests, with `settings`: without
    MONGODB_URI and WORKERS, so that the shell the tests run in decides nothing."""
    env = {key: value for key, value in os.environ.items() if key not in ("MONGODB_URI", "WORKERS")}
    return {**env, **settings}


def run_module(
    module: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` run to its end (a command, or a start-up that is refused),
    with `env` added to its environment; its exit code and output, whatever they are."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=environment(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_process(
    tmp_path: Path, module: str, port: int, ready_path: str, settings: dict[str, str]
) -> Server:
    """Run `python -m module` until `ready_path` answers 200 (30 s at most)."""
    env = environment(**settings)
    log = tmp_path / f"{module}-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{module} exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}{ready_path}", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    pytest.fail(f"{module} did not answer within 30 s:\n{server.output()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One in-memory server for the module's tests (they use distinct emails)."""
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
