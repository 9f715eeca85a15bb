"""The load-testing kit, against a live server for a few seconds."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.loadtest import percentile
from tests.live_server import ROOT, Server

pytestmark = pytest.mark.live


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (
        50,
        95,
        99,
    )
    assert percentile([], 0.5) == 0.0


def test_a_short_mixed_load_runs_clean_and_writes_its_report(
    server: Server, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "api",
            "loadtest",
            "--url",
            server.url,
            "--duration",
            "2",
            "--concurrency",
            "4",
            "--read-ratio",
            "0.6",
            "--seed-users",
            "30",
            "--report",
            str(report_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["seeded_users"] == 30
    assert report["total"]["errors"] == 0
    assert report["total"]["requests"] > 20
    for name, operation in report["operations"].items():
        assert operation["requests"] > 0, name
        assert operation["p50_ms"] <= operation["p95_ms"] <= operation["p99_ms"]
    assert "p99 ms" in result.stdout
