"""The README's "Try it" block, run as a reader pastes it: with bash, against a live server."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from api.security import new_api_key
from tests.live_server import ROOT, start_server

pytestmark = pytest.mark.live

DEFAULT_URL = "http://127.0.0.1:8000"
# The status of each request of the block, in order.
STATUSES = ["201", "200", "200", "304", "200", "200", "204", "404", "200", "200"]


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
