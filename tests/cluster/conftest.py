"""The reference topology as `scripts/cluster.sh up` brings it up (HAProxy with TLS, daphne workers
on plain loopback sockets, Redis, OpenBao, PostgreSQL), for tests of what several workers share.

A test reaches one worker directly when it must know which worker answers, sending what HAProxy
would add (`X-Forwarded-Proto: https`, `X-Forwarded-For`): the workers trust them because only
the proxy can reach them in production."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from rps_site.vault import SecretStore
from tests.e2e.conftest import create_ccm_profile as e2e_create_ccm_profile

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JWT_ISSUER = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc"


@dataclass
class Cluster:
    state: Path
    description: dict[str, Any]

    @property
    def https(self) -> str:
        return str(self.description["https"])

    @property
    def wss(self) -> str:
        return str(self.description["wss"])

    @property
    def ca_file(self) -> Path:
        return Path(self.description["ca_file"])

    @property
    def worker_ports(self) -> list[int]:
        return [int(worker["port"]) for worker in self.description["workers"]]

    def settings(self) -> dict[str, str]:
        """The workers' RPS_* settings (secrets included: the state directory is the test's)."""
        return dict(json.loads((self.state / "worker.env.json").read_text()))

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def token(self, *, tenant_id: str = "", subject: str = "cluster-test") -> str:
        claims = {"tenantId": tenant_id, "sub": subject, "iss": DEFAULT_JWT_ISSUER, "exp": int(time.time()) + 3600}
        return jwt.encode(claims, self.settings()["RPS_JWT_SECRET"], algorithm="HS256")

    def api(self, tenant_id: str = "", *, token: str | None = None) -> httpx.Client:
        """The admin API through HAProxy (TLS)."""
        return httpx.Client(
            base_url=f"{self.https}/api/v1/admin",
            verify=self.ssl_context(),
            headers={"Authorization": f"Bearer {token or self.token(tenant_id=tenant_id)}"},
            timeout=30,
        )

    def worker_api(self, port: int, *, token: str | None = None, client_address: str = "192.0.2.1") -> httpx.Client:
        """The admin API of one worker, as HAProxy calls it."""
        return httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1/admin",
            headers={
                "Authorization": f"Bearer {token or self.token()}",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": client_address,
            },
            timeout=30,
        )

    def psql(self, query: str) -> list[list[str]]:
        database = self.description["database_url"].rsplit("/", 1)[1]
        output = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-F", "\t", database, "-c", query],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.split("\t") for line in output.splitlines()]

    def cluster_command(self, *arguments: str) -> list[str]:
        return [str(ROOT / "scripts" / "cluster.sh"), *arguments, "--state", str(self.state)]

    def vault_store(self) -> SecretStore:
        """The storage layer as the workers use it, for assertions on what they stored."""
        settings = self.settings()
        return SecretStore(
            addr=settings["RPS_VAULT_ADDR"],
            token=settings["RPS_VAULT_TOKEN"],
            mount=settings.get("RPS_VAULT_MOUNT", "secret"),
            prefix=settings.get("RPS_VAULT_PREFIX", ""),
            timeout=5,
            verify=True,
        )

    def log(self, name: str) -> str:
        return (self.state / "logs" / name).read_text(errors="replace")


@contextmanager
def running_cluster(state: Path, *arguments: str) -> Iterator[Cluster]:
    """`scripts/cluster.sh up` with `arguments`; `down` afterwards."""
    started = subprocess.run(
        [str(ROOT / "scripts" / "cluster.sh"), "up", "--state", str(state), "--json", *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if started.returncode != 0:
        raise RuntimeError(f"scripts/cluster.sh up failed:\n{started.stdout}\n{started.stderr}")
    try:
        yield Cluster(state, json.loads(started.stdout))
    finally:
        subprocess.run([str(ROOT / "scripts" / "cluster.sh"), "down", "--state", str(state)], check=False, timeout=120)


def create_ccm_profile(cluster: Cluster) -> str:
    """A CCM profile (generated password, DHCP), through HAProxy; its name."""
    return e2e_create_ccm_profile(cluster)  # type: ignore[arg-type]  (a Cluster answers api() as an RpsServer does)
