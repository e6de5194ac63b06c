"""Start-up failures print one line naming the cause and exit non-zero, without a traceback: from
manage.py, from daphne serving rps_site.asgi, and from the quick start (rps_site/startup.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rps_site import openbao_dev
from rps_site.openbao_dev import DevVault, free_port
from tests.quickstart_process import run_once

ROOT = Path(__file__).resolve().parents[2]
PG_DOWN = "postgres://postgres@127.0.0.1:{port}/rps"


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe is closed


def run(command: list[str], **overrides: str) -> tuple[int, list[str], float]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update({"RPS_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "rps_site.settings", **overrides})
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stderr.strip().splitlines(), time.monotonic() - started


def daphne(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rps_site.serve",
        "-e",
        f"tcp:{port}:interface=127.0.0.1",
        "rps_site.asgi:application",
    ]


def test_migrate_with_postgresql_down_is_one_line_at_once() -> None:
    port = closed_port()
    code, lines, seconds = run([sys.executable, "manage.py", "migrate"], RPS_DATABASE_URL=PG_DOWN.format(port=port))
    assert code == 1
    [line] = lines
    assert line.startswith(f"rps-django: cannot use the database rps at 127.0.0.1:{port}: ")
    assert "Connection refused" in line
    assert seconds < 30, "no pool retrying for its timeout"  # generous: Django's own start on a busy machine


def test_daphne_with_postgresql_down_ends_at_start_in_one_line() -> None:
    port = closed_port()
    code, lines, _ = run(daphne(free_port()), RPS_DATABASE_URL=PG_DOWN.format(port=port))
    assert code == 1
    [line] = lines
    assert line.startswith("rps-django: cannot use the database rps at 127.0.0.1:")


def test_daphne_with_a_bad_setting_ends_at_start_in_one_line() -> None:
    code, lines, _ = run(daphne(free_port()), RPS_WSMAN_TIMEOUT="0")
    assert code == 1
    assert lines == ["rps-django: RPS_WSMAN_TIMEOUT must be > 0; RPS_DELAY_TIMER and RPS_RETRY_DELAY must be >= 0"]


def test_daphne_on_a_taken_port_names_it_and_exits() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code, lines, _ = run(daphne(port), RPS_DATABASE_URL="sqlite:///:memory:")
    assert code != 0
    assert f"Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address already in use." in lines[-1]
    assert not any("Traceback" in line for line in lines)


@pytest.fixture
def uninitialised_openbao(tmp_path: Path) -> Iterator[str]:
    """A real OpenBao server in server mode that nobody has initialised (then sealed) yet."""
    port, cluster_port = free_port(), free_port()
    (tmp_path / "config.hcl").write_text(openbao_dev._config(tmp_path, port, cluster_port))
    process = subprocess.Popen(
        [openbao_dev.bao_binary(), "server", f"-config={tmp_path / 'config.hcl'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    addr = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while openbao_dev.vault_health(addr) == "down" and time.monotonic() < deadline:
            time.sleep(0.1)
        yield addr
    finally:
        openbao_dev.stop_process(process)


def quickstart_error(run_dir: Path, **overrides: str) -> str:
    result = run_once(run_dir, **overrides)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


def test_quick_start_with_its_vault_down_sealed_or_uninitialised_says_which(
    tmp_path: Path, uninitialised_openbao: str
) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    line = quickstart_error(tmp_path / "a", RPS_VAULT_ADDR=down, RPS_VAULT_TOKEN="token")
    assert line == f"rps serve: Vault at {down} (RPS_VAULT_ADDR) cannot be reached; start it or unset RPS_VAULT_ADDR"

    addr = uninitialised_openbao
    line = quickstart_error(tmp_path / "b", RPS_VAULT_ADDR=addr, RPS_VAULT_TOKEN="token")
    assert line == f"rps serve: Vault at {addr} (RPS_VAULT_ADDR) is uninitialized; unseal or initialise it first"

    request = urllib.request.Request(  # noqa: S310  (loopback)
        f"{addr}/v1/sys/init", method="PUT", data=json.dumps({"secret_shares": 1, "secret_threshold": 1}).encode()
    )
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310
    line = quickstart_error(tmp_path / "c", RPS_VAULT_ADDR=addr, RPS_VAULT_TOKEN="token")
    assert line == f"rps serve: Vault at {addr} (RPS_VAULT_ADDR) is sealed; unseal or initialise it first"

    line = quickstart_error(tmp_path / "d", RPS_VAULT_ADDR=addr)
    assert line.startswith("rps serve: set both RPS_VAULT_ADDR and RPS_VAULT_TOKEN")


def test_quick_start_with_a_token_vault_refuses_or_a_root_token_is_one_line(
    tmp_path: Path, dev_vault: DevVault
) -> None:
    line = quickstart_error(tmp_path / "a", RPS_VAULT_ADDR=dev_vault.addr, RPS_VAULT_TOKEN="not-a-token-of-this-vault")
    assert line.startswith("rps-django: Refusing the Vault credential: Vault refused it")
    line = quickstart_error(tmp_path / "b", RPS_VAULT_ADDR=dev_vault.addr, RPS_VAULT_TOKEN=dev_vault.root_token)
    assert line.startswith("rps-django: Refusing the Vault credential: it is a root token")
    assert not (tmp_path / "a" / "quickstart.sqlite3").exists(), "refused before anything was written"


def test_quick_start_with_postgresql_down_or_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    line = quickstart_error(tmp_path / "a", RPS_DATABASE_URL=PG_DOWN.format(port=port))
    assert line.startswith(f"rps-django: cannot use the database rps at 127.0.0.1:{port}: ")
    line = quickstart_error(tmp_path / "b", RPS_WSMAN_TIMEOUT="0")
    assert line == "rps-django: RPS_WSMAN_TIMEOUT must be > 0; RPS_DELAY_TIMER and RPS_RETRY_DELAY must be >= 0"
