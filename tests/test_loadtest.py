"""The load-testing kit, against a live server for a few seconds."""

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from api.loadtest import percentile
from api.security import new_api_key
from tests.conftest import USERS
from tests.live_server import Server, run_module, start_server

pytestmark = pytest.mark.live


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (
        50,
        95,
        99,
    )
    assert percentile([], 0.5) == 0.0


def loadtest(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A short `python -m api loadtest` against `url`, its report in tmp_path/report.json."""
    return run_module(
        "api",
        *("loadtest", "--url", url, "--duration", "2", "--concurrency", "4"),
        *("--seed-users", "30", "--report", str(tmp_path / "report.json"), *args),
        timeout=120,
    )


def test_a_short_mixed_load_runs_clean_and_writes_its_report(
    server: Server, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"

    result = loadtest(server.url, tmp_path, "--read-ratio", "0.6")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["seeded_users"] == 30
    assert report["total"]["errors"] == 0
    assert report["total"]["requests"] > 20
    for name, operation in report["operations"].items():
        assert operation["requests"] > 0, name
        assert operation["p50_ms"] <= operation["p95_ms"] <= operation["p99_ms"]
    assert "p99 ms" in result.stdout


def test_the_history_mix_reads_versions_and_insights_and_restores(
    server: Server, tmp_path: Path
) -> None:
    result = loadtest(server.url, tmp_path, "--read-ratio", "0.5", "--history")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["operations"]) == {
        "get", "list", "create", "update", "delete", "versions", "stats", "restore"
    }  # fmt: skip
    assert report["total"]["errors"] == 0
    for name in ("versions", "stats"):
        assert report["operations"][name]["requests"] > 0, name


def test_help_documents_every_option_with_its_default() -> None:
    result = run_module("api", "loadtest", "--help")
    assert result.returncode == 0, result.stderr
    options = re.findall(r"^  (--[a-z-]+)", result.stdout, re.MULTILINE)

    assert {"--api-key", "--max-error-rate", "--cleanup", "--url"} <= set(options)
    help_text = " ".join(result.stdout.split())
    for option in options:
        described = help_text.split(f" {option} ", 1)[1].split(" --", 1)[0]
        assert "(default: " in described, option


def test_a_refused_key_is_one_line_and_a_key_makes_the_run(tmp_path: Path) -> None:
    key, digest = new_api_key()
    reader, reader_digest = new_api_key()
    keys = f"load:read+write:{digest},reader:read:{reader_digest}"
    server = start_server(tmp_path, API_KEYS=keys)
    try:
        without_key = loadtest(server.url, tmp_path)
        read_only = loadtest(server.url, tmp_path, "--api-key", reader)
        with_key = loadtest(server.url, tmp_path, "--api-key", key)
    finally:
        server.stop()

    assert without_key.returncode == 2
    assert without_key.stderr.strip().splitlines() == [
        f"loadtest: {server.url} answered 401 (api_key_required): the API requires keys: "
        "pass --api-key with a key of write scope."
    ]
    assert read_only.returncode == 2
    assert "403 (insufficient_scope)" in read_only.stderr
    assert "Traceback" not in without_key.stderr + read_only.stderr
    assert with_key.returncode == 0, with_key.stdout + with_key.stderr


def test_errors_fail_the_run_only_above_the_threshold(tmp_path: Path) -> None:
    def limited_run(*args: str) -> subprocess.CompletedProcess[str]:
        # A tight rate limit: seeding passes, most requests of the run are answered 429.
        server = start_server(tmp_path, RATE_LIMIT_ENABLED="true", RATE_LIMIT="2/minute")
        try:
            return loadtest(server.url, tmp_path, *args)
        finally:
            server.stop()

    strict = limited_run()
    lenient = limited_run("--max-error-rate", "1")
    exhausted = limited_run("--seed-users", "300")  # 3 batches: the third is refused

    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "more than --max-error-rate 1.00%" in strict.stderr
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert json.loads((tmp_path / "report.json").read_text())["error_rate"] > 0.5
    assert exhausted.returncode == 2
    assert exhausted.stderr.strip().endswith("answered 429 (rate_limited): seeding failed.")


def test_cleanup_deletes_what_the_run_left(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        result = loadtest(server.url, tmp_path, "--cleanup", "--read-ratio", "0.5")
        left = httpx.get(f"{server.url}{USERS}").json()["total"]
    finally:
        server.stop()

    assert result.returncode == 0, result.stdout + result.stderr
    assert left == 0
    assert json.loads((tmp_path / "report.json").read_text())["deleted_after"] >= 30
