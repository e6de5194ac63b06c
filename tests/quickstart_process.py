"""`python -m rps_site.quickstart` (what `./rps serve` runs) as a process under test: its own state
directory and a free port, started from a clean environment (none of the caller's `RPS_*`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rps_site.openbao_dev import free_port

ROOT = Path(__file__).resolve().parent.parent
READY = "rps-django is running on "


def clean_environment(run_dir: Path, port: int, **overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update({"RPS_RUN_DIR": str(run_dir), "RPS_PORT": str(port), **overrides})
    return environment


def run_once(
    run_dir: Path, *arguments: str, port: int | None = None, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """A quick start expected to end by itself (a refusal, an error); stdin is not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "rps_site.quickstart", *arguments],
        cwd=ROOT,
        env=clean_environment(run_dir, port or free_port(), **overrides),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


class QuickStart:
    """A running quick start; `output` collects its stdout and stderr lines as they come."""

    def __init__(self, run_dir: Path, *arguments: str, port: int | None = None, cwd: Path = ROOT, **overrides: str):
        self.run_dir, self.port = run_dir, port or free_port()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rps_site.quickstart", *arguments],
            cwd=cwd,
            env=clean_environment(run_dir, self.port, **overrides),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def token(self) -> str:
        return (self.run_dir / "quickstart-token").read_text()

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "tls" / "cert.pem"

    def wait_ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not any(line.startswith(READY) for line in self.output):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("the quick start did not come up:\n" + "\n".join(self.output[-40:]))
            time.sleep(0.1)

    def children(self) -> list[int]:
        """The process ids whose parent is the quick start (OpenBao, daphne)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5)
        return code


@contextmanager
def running_quickstart(run_dir: Path, *arguments: str, **options: str) -> Iterator[QuickStart]:
    quickstart = QuickStart(run_dir, *arguments, **options)
    try:
        quickstart.wait_ready()
        yield quickstart
    finally:
        quickstart.stop()


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
