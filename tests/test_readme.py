"""The first hour: the README's "Try it" block run as a reader pastes it (bash, against a live
server), and what start-up says and does: a port in use, the log format, the commands it names.
"""

import contextlib
import inspect
import io
import json
import logging
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from api import security
from api.__main__ import configure_logging
from api.config import load_config
from api.security import new_api_key
from tests.live_server import ROOT, run_module, start_server

pytestmark = pytest.mark.live

DEFAULT_URL = "http://127.0.0.1:8000"
# The status of each request of the block, in order.
STATUSES = ["201", "200", "200", "304", "200", "200", "204", "404", "200", "200", "200"]
STATUSES += ["200", "200"]


def try_it_block() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"\n```sh\n(.*?)\n```\n", section, re.DOTALL)
    return block


def run_block(url: str, tmp_path: Path, **env: str) -> str:
    result = subprocess.run(
        ["bash", "-c", try_it_block().replace(DEFAULT_URL, url)],
        cwd=tmp_path,  # where h.txt goes
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


def statuses(output: str) -> list[str]:
    return re.findall(r"^HTTP/[\d.]+ (\d{3})", output, re.MULTILINE)


def test_the_block_uses_no_placeholder() -> None:
    block = try_it_block()

    assert "..." not in block
    assert DEFAULT_URL in block


def test_try_it_runs_as_written(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        output = run_block(server.url, tmp_path)
    finally:
        server.stop()

    assert statuses(output) == STATUSES, output
    assert re.search(r'"years": ?6', output)  # the merged patch
    assert 'rel="first"' in output


def test_try_it_runs_with_api_keys_and_the_key_exported(tmp_path: Path) -> None:
    key, digest = new_api_key()
    server = start_server(tmp_path, API_KEYS=f"readme:read+write:{digest}")
    try:
        output = run_block(server.url, tmp_path, KEY=key)
        (tmp_path / "no-key").mkdir()
        without_key = run_block(server.url, tmp_path / "no-key", KEY="")
    finally:
        server.stop()

    assert statuses(output) == STATUSES, output
    assert statuses(without_key)[0] == "401"


def start_up(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m api` as ./scripts/serve runs it, expected to stop by itself."""
    return run_module("api", env={"HOST": "127.0.0.1", **env})


def test_a_port_in_use_is_one_line_and_exit_code_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_up(PORT=str(port))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"users-api: cannot listen on 127.0.0.1:{port}: Address already in use. "
        "Stop what uses it, or set PORT (or HOST) to another one."
    ]


@pytest.mark.parametrize(("terminal", "style"), [(True, "text"), (False, "json")])
def test_logs_are_text_on_a_terminal_and_json_otherwise(terminal: bool, style: str) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = Stream()
    try:
        with contextlib.redirect_stderr(stream):
            configure_logging("INFO", "auto")
        logging.getLogger("api").info("hello")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    line = stream.getvalue().strip()
    if style == "json":
        assert json.loads(line)["message"] == "hello"
    else:
        assert line.endswith("INFO api: hello")


def test_the_start_up_warning_names_a_command_that_works() -> None:
    # Printed when API_KEYS is unset (api/security.py); it must run on a fresh clone as printed.
    (command,) = re.findall(r"\((\./scripts/[a-z-]+) NAME\)", inspect.getsource(security))

    result = subprocess.run(
        [str(ROOT / command.removeprefix("./")), "ci", "--scopes", "read"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    entry = result.stdout.split("\n")[-2].strip()
    assert load_config({"API_KEYS": entry})["API_KEYS"][0].name == "ci"
