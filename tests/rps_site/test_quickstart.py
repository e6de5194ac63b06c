"""`./rps serve` keeps its data across restarts, never shares its state directory, and leaves no
process behind (rps_site/quickstart.py, run as a process the way `./rps serve` runs it)."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import time
from pathlib import Path

import httpx

from rps_site.openbao_dev import DevVault, free_port
from rps_site.vault import MPS_CERTIFICATES_PATH, SecretStore, profile_passwords_path
from tests.quickstart_process import QuickStart, alive, run_once, running_quickstart

AMT_PASSWORD = "Kept!Passw0rd-1"


def api(quickstart: QuickStart) -> httpx.Client:
    return httpx.Client(
        base_url=f"{quickstart.url}/api/v1/admin",
        verify=ssl.create_default_context(cafile=str(quickstart.ca_file)),
        headers={"Authorization": f"Bearer {quickstart.token}"},
        timeout=30,
    )


def embedded_vault(run_dir: Path) -> SecretStore:
    """The quick start's OpenBao, opened with its root token (the server itself has a scoped one)."""
    port = (run_dir / "openbao" / "ports").read_text().split()[0]
    root_token = (run_dir / "openbao" / "root-token").read_text()
    return SecretStore(
        addr=f"http://127.0.0.1:{port}", token=root_token, mount="secret", prefix="", timeout=5, verify=True
    )


def wait_gone(pids: list[int], seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def test_a_restart_keeps_the_data_a_second_server_is_refused_and_reset_starts_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "var"
    first = QuickStart(run_dir)
    first.wait_ready()
    try:
        with api(first) as client:
            created = client.post(
                "/profiles",
                json={
                    "profileName": "kept",
                    "activation": "ccmactivate",
                    "generateRandomPassword": False,
                    "amtPassword": AMT_PASSWORD,
                    "generateRandomMEBxPassword": False,
                    "dhcpEnabled": True,
                },
            )
        assert created.status_code == 201, created.text

        # A second server on another port refuses the state directory in one line, touching nothing.
        second = run_once(run_dir)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"rps serve: {run_dir} is in use by another ./rps serve (pid {first.process.pid}, port {first.port}); "
            "stop it first, or give this one its own RPS_RUN_DIR"
        ]
        with api(first) as client:
            assert client.get("/profiles/kept").status_code == 200
        children = first.children()
        assert len(children) == 2, "OpenBao and daphne"
        assert f"listening on 127.0.0.1:{first.port}" in "\n".join(first.output)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    assert wait_gone(children) == [], "no child outlives the quick start"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", first.port))  # the port is free again
    assert_private_state(run_dir, "\n".join(first.output))

    again = QuickStart(run_dir)
    again.wait_ready()
    try:
        with api(again) as client:
            assert client.get("/profiles/kept").json()["profileName"] == "kept"
        stored = embedded_vault(run_dir).read(profile_passwords_path("", "kept"))
        assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == AMT_PASSWORD
        children = again.children()
    finally:
        assert again.stop(signal.SIGINT) == 0  # Ctrl-C
    assert wait_gone(children) == []

    # --reset: not on a terminal and without --yes, nothing is deleted; with --yes, a new start.
    refused = run_once(run_dir, "--reset")
    assert refused.returncode == 1 and "add --yes to confirm" in refused.stderr
    old_root = (run_dir / "openbao" / "root-token").read_text()
    with running_quickstart(run_dir, "--reset", "--yes") as fresh, api(fresh) as client:
        assert client.get("/profiles/kept").status_code == 404
    assert (run_dir / "openbao" / "root-token").read_text() != old_root, "a new OpenBao"


def assert_private_state(run_dir: Path, output: str) -> None:
    """Keys and tokens are readable by their owner only and appear in no log."""
    root_token = (run_dir / "openbao" / "root-token").read_text()
    unseal_key = (run_dir / "openbao" / "unseal-key").read_text()
    for name in (
        "openbao",
        "openbao/root-token",
        "openbao/unseal-key",
        "openbao.log",
        "quickstart-keys.json",
        "quickstart-token",
        "quickstart-admin-password",
    ):
        assert (run_dir / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"
    for secret in (root_token, unseal_key):
        assert secret not in (run_dir / "openbao.log").read_text()
        assert secret not in output


def test_a_vault_and_database_given_in_the_environment_are_used(tmp_path: Path, dev_vault: DevVault) -> None:
    vault = SecretStore(
        addr=dev_vault.addr, token=dev_vault.root_token, mount="secret", prefix="", timeout=5, verify=True
    )
    if vault.read(MPS_CERTIFICATES_PATH) is not None:
        vault.destroy(MPS_CERTIFICATES_PATH)
    database = tmp_path / "elsewhere.sqlite3"
    run_dir = tmp_path / "var"
    with running_quickstart(
        run_dir,
        RPS_VAULT_ADDR=dev_vault.addr,
        RPS_VAULT_TOKEN=dev_vault.rps_token(),
        RPS_DATABASE_URL=f"sqlite:///{database}",
    ) as quickstart:
        assert len(quickstart.children()) == 1, "daphne only: no OpenBao of its own"
        assert not (run_dir / "openbao").exists() and not (run_dir / "quickstart.sqlite3").exists()
        assert database.stat().st_size > 0
        assert vault.read(MPS_CERTIFICATES_PATH) is not None, "the quick start seeded the given Vault"


def test_webui_pairing_prints_what_mps_must_share_and_hangup_stops_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "var"
    quickstart = QuickStart(run_dir, "--webui")
    quickstart.wait_ready()
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(quickstart.ca_file))) as client:
            preflight = client.options(
                f"{quickstart.url}/api/v1/admin/profiles",
                headers={"Origin": "http://localhost:4200", "Access-Control-Request-Method": "GET"},
            )
        children = quickstart.children()
    finally:
        assert quickstart.stop(signal.SIGHUP) == 0
    assert wait_gone(children) == []
    assert preflight.headers.get("access-control-allow-origin") == "http://localhost:4200"
    output = "\n".join(quickstart.output)
    for shared in ("MPS_JWT_SECRET=", "MPS_JWT_ISSUER=", "MPS_VAULT_ADDRESS=http://127.0.0.1:", "MPS_SECRETS_PATH="):
        assert shared in output
    assert "MPS_SECRETS_PATH=secret/data/\n" in output + "\n"
    jwt_secret = json.loads((run_dir / "quickstart-keys.json").read_text())["RPS_JWT_SECRET"]
    assert f"MPS_JWT_SECRET={jwt_secret}" in output
    mps_token = (run_dir / "openbao" / "mps-token").read_text()
    assert f"MPS_VAULT_TOKEN={mps_token}" in output
    assert (run_dir / "openbao" / "mps-token").stat().st_mode & 0o077 == 0


def test_a_taken_port_is_refused_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run_once(tmp_path / "var", port=port)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"rps serve: cannot listen on 127.0.0.1:{port}: ") and "set RPS_PORT" in line
    assert not (tmp_path / "var" / "openbao").exists()


def test_help_starts_nothing(tmp_path: Path) -> None:
    result = run_once(tmp_path / "var", "--help", port=free_port())
    assert result.returncode == 0 and "--reset" in result.stdout and "--webui" in result.stdout
    assert not (tmp_path / "var").exists()
