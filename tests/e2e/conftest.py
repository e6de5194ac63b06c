"""End-to-end: the app served by daphne over TLS (HTTPS + WSS), on its own PostgreSQL database,
the session's OpenBao and a recording MPS, driven by amtsim's rpc-go-compatible client and
virtual devices over real sockets."""

from __future__ import annotations

import secrets as random_source
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import jwt
import pytest

from amtsim.pki import shared_on_die_ca
from rps_site.openbao_dev import DevVault, free_port
from rps_site.serving import daphne_command, local_server_environment, make_self_signed_certificate, run_manage
from rps_site.vault import SecretStore, device_path
from tests.mps_recorder import MpsRecorder, running_mps_recorder

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
JWT_ISSUER = "e2e-issuer"


@dataclass
class RpsServer:
    port: int
    ca_file: Path
    jwt_secret: str
    mps: MpsRecorder
    vault: DevVault
    log_path: Path
    database_url: str
    environment: dict[str, str]
    web_ui_origin: str = ""  # the one origin granted CORS (a browser test serves a page there)

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/activate"

    def token(self, tenant_id: str = "") -> str:
        claims = {"tenantId": tenant_id, "iss": JWT_ISSUER, "exp": int(time.time()) + 3600}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def api(self, tenant_id: str = "") -> httpx.Client:
        return httpx.Client(
            base_url=f"https://127.0.0.1:{self.port}/api/v1/admin",
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"Authorization": f"Bearer {self.token(tenant_id)}"},
            timeout=30,
        )

    def vault_store(self) -> SecretStore:
        """The storage layer on the server's Vault, for assertions on what it stored."""
        return SecretStore(
            addr=self.vault.addr, token=self.vault.root_token, mount="secret", prefix="", timeout=5, verify=True
        )

    def secret_version(self, guid: str, version: int) -> dict[str, str]:
        """One KV v2 version of `devices/<guid>` (prior versions are kept when a secret is replaced)."""
        client = hvac.Client(url=self.vault.addr, token=self.vault.root_token)
        read = client.secrets.kv.v2.read_secret_version(
            path=device_path(guid), version=version, mount_point="secret", raise_on_deleted_version=True
        )
        return dict(read["data"]["data"])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def rps_server(dev_vault: DevVault, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpsServer]:
    with rps_workers(dev_vault, tmp_path_factory.mktemp("rps-e2e")) as (rps,):
        yield rps


@contextmanager
def rps_workers(
    dev_vault: DevVault, work: Path, *, workers: int = 1, **settings: str
) -> Iterator[tuple[RpsServer, ...]]:
    """`workers` servers on one fresh database, each on its own port and sharing everything else,
    with the e2e settings and `settings` on top."""
    database = f"rps_e2e_{random_source.token_hex(4)}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    certificate, key = make_self_signed_certificate(work / "tls")
    jwt_secret = random_source.token_urlsafe(48)
    odca_roots = work / "odca-roots.pem"  # TLS-enforced amtsim devices chain to this stand-in (§5.4)
    odca_roots.write_bytes(shared_on_die_ca().root_pem())
    web_ui_origin = f"http://127.0.0.1:{free_port()}"
    with running_mps_recorder() as mps, ExitStack() as running:
        environment = local_server_environment(
            vault_addr=dev_vault.addr,
            vault_token=dev_vault.rps_token(),
            database_url=f"{PG_SERVER}/{database}",
            RPS_JWT_SECRET=jwt_secret,
            RPS_JWT_ISSUER=JWT_ISSUER,
            RPS_MPS_URL=mps.url,
            RPS_DELAY_TIMER="0",
            RPS_RETRY_DELAY="0",
            RPS_WSMAN_TIMEOUT="4",
            RPS_DEVICE_TENANTS=",acme,vetted",
            RPS_DEVICE_ENROLLMENT_REQUIRED="vetted",  # the allow-list on for one tenant, off for the others
            RPS_LOG_LEVEL="DEBUG",
            RPS_AMT_EXTRA_ODCA_ROOTS=str(odca_roots),
            RPS_CORS_ALLOWED_ORIGINS=web_ui_origin,
            **settings,
        )
        run_manage(environment, "migrate", "--noinput", "-v", "0")
        servers = []
        try:
            for index in range(workers):
                port = free_port()
                log_path = work / f"server{index or ''}.log"
                rps = RpsServer(
                    port,
                    certificate,
                    jwt_secret,
                    mps,
                    dev_vault,
                    log_path,
                    f"{PG_SERVER}/{database}",
                    environment,
                    web_ui_origin,
                )
                running.enter_context(
                    running_server(
                        daphne_command(port=port, tls=(certificate, key)),
                        environment,
                        log_path,
                        probe_url=f"https://127.0.0.1:{port}/api/v1/admin/version",
                        ca_file=certificate,
                    )
                )
                servers.append(rps)
            yield tuple(servers)
        finally:
            running.close()
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", database], check=False
            )


@contextmanager
def running_server(
    command: list[str], environment: dict[str, str], log_path: Path, *, probe_url: str, ca_file: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The server `command` started, answering `probe_url` with 200 (60 s at most); stopped after."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else False
        while True:
            try:
                with httpx.Client(verify=verify) as probe:
                    if probe.get(probe_url).status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the e2e server did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def unique(prefix: str) -> str:
    return f"{prefix}{random_source.token_hex(5)}"


def create_ccm_profile(rps: RpsServer, *, tenant_id: str = "", **overrides: Any) -> str:
    name = unique("ccm")
    body = {
        "profileName": name,
        "activation": "ccmactivate",
        "generateRandomPassword": True,
        "generateRandomMEBxPassword": False,
        "dhcpEnabled": True,
        "tags": ["e2e"],
        **overrides,
    }
    with rps.api(tenant_id) as api:
        response = api.post("/profiles", json=body)
    assert response.status_code == 201, response.text
    return name
