"""The interop suite skips in one line without its material, and is required where
`RPS_INTEROP_REQUIRED` says so (.ci/run): pytest refuses to start, the Postman step fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("RPS_INTEROP_REQUIRED", "CI")}
    environment.update(overrides)
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)


def test_without_the_material_the_interop_tests_skip_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-reference"
    result = run(
        [sys.executable, "-m", "pytest", "-q", "tests/profiles/test_pfx.py"],
        RPS_REFERENCE_DIR=str(missing),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reason = f"interop suite skipped: no reference material at {missing}"
    assert [line for line in result.stdout.splitlines() if line.startswith(reason)] == [
        f"{reason} (upstream's Postman suites and recorded WS-Man answers; set RPS_REFERENCE_DIR) [1 tests or modules]"
    ]
    postman = run([sys.executable, "scripts/run_postman.py"], RPS_REFERENCE_DIR=str(missing))
    assert postman.returncode == 0
    [line] = postman.stdout.strip().splitlines()
    assert line.startswith(f"postman: {reason} ")
    assert postman.stderr == ""


def test_where_required_its_absence_fails_instead(tmp_path: Path) -> None:
    missing = tmp_path / "no-reference"
    overrides = {"RPS_REFERENCE_DIR": str(missing), "RPS_INTEROP_REQUIRED": "true"}
    result = run([sys.executable, "-m", "pytest", "-q", "tests/profiles/test_pfx.py"], **overrides)
    assert result.returncode == 4  # pytest's usage error: nothing ran
    assert f"interop suite required (RPS_INTEROP_REQUIRED): no reference material at {missing}" in result.stdout
    postman = run([sys.executable, "scripts/run_postman.py"], **overrides)
    assert postman.returncode == 1 and "Traceback" not in postman.stdout + postman.stderr
    assert postman.stdout.startswith("postman: interop suite required (RPS_INTEROP_REQUIRED): ")
