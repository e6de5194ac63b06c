"""Several workers on one host share `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess
mode): each writes its samples to files named by its pid, and a scrape of any worker sums them.
Counters and histograms of workers that exited stay in the sums (totals never go back); the
open-socket gauge counts live workers only.

`prepare_worker` runs first thing in each worker (`python -m rps_site.serve`): it drops the
gauge files of processes that died without saying so (a crash, SIGKILL, a management command)
and arranges for this worker's own to go when it exits. The directory must be empty when the
host's first worker starts: put it on a tmpfs such as /run (README "Metrics").
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path

from prometheus_client import multiprocess

GAUGE_FILE = re.compile(r"^gauge_\w+?_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_workers(directory: Path) -> list[int]:
    """Drop the live-gauge files of workers no longer running; returns their pids."""
    dead = {
        int(found.group(1))
        for found in (GAUGE_FILE.match(path.name) for path in directory.iterdir())
        if found and not _alive(int(found.group(1)))
    }
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))
    return sorted(dead)


def ensure_directory() -> str | None:
    """The multiprocess directory, created if missing (every process that defines the metrics
    writes there, management commands included); None in single-process mode."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory or None


def prepare_worker() -> None:
    directory = ensure_directory()
    if directory is None:
        return
    remove_dead_workers(Path(directory))
    atexit.register(multiprocess.mark_process_dead, os.getpid(), directory)
