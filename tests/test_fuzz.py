"""Contract fuzzing: schemathesis, every phase and every check, against a live server.

It sends the spec's examples, then requests built to cover each schema's edges (coverage), then
generated valid and invalid requests (fuzzing), then sequences that follow the links between
operations (stateful), and checks every response against the spec. The seed is fixed and the
examples per operation are bounded, so a run is repeatable and takes seconds. What it found
while this was written, and how each finding was fixed, is in tests/contract/SCHEMATHESIS.md.
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live_server import ROOT, start_server

pytestmark = [pytest.mark.live, pytest.mark.contract]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = ROOT / "tests" / "contract" / "schemathesis.toml"
HOOKS = ROOT / "tests" / "contract" / "hooks.py"
SEED = 20241115
# The server requires keys, as a production one would, and schemathesis holds a valid one: it
# then also checks that a missing or wrong key is refused (401).
FUZZ_KEY = "fuzz-0123456789abcdef0123456789abcdef"
API_KEYS = f"fuzz:read+write:{hashlib.sha256(FUZZ_KEY.encode()).hexdigest()}"
# Test cases per operation and phase: (document, max examples, fewest test cases expected).
RUNS = [("openapi.json", 100, 1000), ("openapi-3.0.json", 30, 400)]


@pytest.mark.parametrize(("document", "max_examples", "fewest"), RUNS)
def test_schemathesis_finds_no_failure(
    tmp_path: Path, document: str, max_examples: int, fewest: int
) -> None:
    server = start_server(tmp_path, API_KEYS=API_KEYS)
    try:
        result = subprocess.run(
            [
                *(str(SCHEMATHESIS), "--no-color", "--config-file", str(CONFIG), "run"),
                str(ROOT / "openapi" / document),
                *("--url", server.url, "--checks", "all", "--seed", str(SEED)),
                *("--phases", "examples,coverage,fuzzing,stateful"),
                *("--max-examples", str(max_examples), "--workers", "1"),
                *("--generation-database", "none", "--request-timeout", "10"),
            ],
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_API_KEY": FUZZ_KEY},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    output = result.stdout + result.stderr
    counts = re.search(r"(\d+) generated, (\d+) passed", output)

    assert result.returncode == 0, output
    assert counts, output
    generated, passed = map(int, counts.groups())
    assert passed == generated >= fewest, output
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅\s+{phase}", output), f"{phase} did not pass:\n{output}"
    assert "Traceback" not in server.output()
