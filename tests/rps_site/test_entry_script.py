"""`./rps`: help for each command that starts nothing, and a clear refusal of an old Python."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rps(*arguments: str, script: Path = ROOT / "rps", **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update(overrides)
    return subprocess.run(
        [str(script), *arguments], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_for_each_command_starts_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "var"
    for arguments in (["--help"], ["serve", "--help"], ["serve", "--reset", "-h"], ["test", "--help"]):
        result = rps(*arguments, RPS_RUN_DIR=str(run_dir))
        assert result.returncode == 0, result.stderr
        assert "usage" in result.stdout.lower() or "./rps serve" in result.stdout
    assert "--webui" in rps("serve", "--help").stdout and "RPS_BIND" in rps("serve", "--help").stdout
    assert "RPS_REFERENCE_DIR" in rps("test", "--help").stdout
    assert not run_dir.exists(), "help created no state"
    unknown = rps("frobnicate")
    assert unknown.returncode == 2 and "./rps serve" in unknown.stderr


def test_an_old_python_is_refused_with_what_to_do(tmp_path: Path) -> None:
    # A checkout without .venv, whose only Python says it is 3.9.
    for name in ("rps", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    old_python = tmp_path / "python3.9"
    old_python.write_text(
        '#!/bin/sh\ncase "$2" in *print*) echo 3.9 ;; *) exit 1 ;; esac\n',
    )
    old_python.chmod(0o755)
    for command in ("serve", "test"):
        result = rps(command, script=tmp_path / "rps", PYTHON=str(old_python))
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"rps: Python 3.11 or newer is needed; '{old_python}' is 3.9 (set PYTHON=/path/to/python3.11)"
        ]
    assert not (tmp_path / ".venv").exists()
