"""`scripts/cluster.sh up` refused by the workers' settings says why in one line and leaves nothing
behind (no process, no database)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cluster.conftest import ROOT


def cluster_databases() -> set[str]:
    listed = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SELECT datname FROM pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name for name in listed.split() if name.startswith("rps_cluster_")}


def test_a_setting_the_workers_refuse_is_named_in_one_line_and_nothing_is_left_running(tmp_path: Path) -> None:
    databases_before = cluster_databases()
    state = tmp_path / "cluster"
    refused = subprocess.run(
        [str(ROOT / "scripts" / "cluster.sh"), "up", "--state", str(state), "--workers", "1"]
        + ["--env=RPS_METRICS_TOKEN=short"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "cluster up: manage.py migrate failed: rps-django: Refusing insecure production settings: "
        "RPS_METRICS_TOKEN needs 16+ characters"
    ]
    assert "Traceback" not in refused.stdout + refused.stderr
    assert cluster_databases() == databases_before
    leftover = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True, check=False).stdout
    assert leftover == "", "a process of the refused cluster still runs"
