"""SECURITY.md check 25: the Vault credential is fit for production, against a real OpenBao.

Start-up refuses a root token, a token Vault refuses, one that expires without renewal and one
lacking what deploy/rps-vault-policy.hcl grants; AppRole logs in, renews before expiry and logs in
again at the maximum TTL while worker threads keep using Vault.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rps_site.openbao_dev import RPS_POLICY, DevVault, free_port
from rps_site.sensitive import Secret
from rps_site.serving import daphne_command, local_server_environment
from rps_site.vault import DATA_CAPABILITIES, METADATA_CAPABILITIES, SecretStore, VaultCredentialRefused
from rps_site.vault_auth import AppRole

ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def store_for(vault: DevVault, *, token: str = "", approle: AppRole | None = None) -> SecretStore:
    return SecretStore(addr=vault.addr, token=token, approle=approle, mount="secret", prefix="", timeout=5, verify=True)


def policy_token(vault: DevVault, hcl: str, **options: object) -> str:
    client = vault.root_client()
    name = unique("policy")
    client.sys.create_or_update_policy(name, hcl)
    return str(client.auth.token.create(policies=[name], **options)["auth"]["client_token"])


def test_the_shipped_policy_grants_exactly_what_start_up_asks_for() -> None:
    granted = dict(
        re.findall(r'path "secret/(data|metadata)/\*" \{\s*capabilities = \[([^\]]*)\]', RPS_POLICY.read_text())
    )
    as_set = {
        kind: {item.strip().strip('"') for item in capabilities.split(",")} for kind, capabilities in granted.items()
    }
    assert as_set == {"data": set(DATA_CAPABILITIES), "metadata": set(METADATA_CAPABILITIES)}


def test_a_token_with_the_shipped_policy_is_fit(dev_vault: DevVault) -> None:
    store = store_for(dev_vault, token=dev_vault.rps_token())
    assert store.credential_problem() is None
    assert store.health() == {"initialized": True, "sealed": False, "standby": False}


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("root", "it is a root token (policy 'root')"),
        ("bogus", "Vault refused it"),
        ("no-delete", "the token lacks delete on secret/metadata/devices/00000000-0000-0000-0000-000000000000"),
        ("no-list", "the token lacks list on secret/metadata/devices/"),
        ("expiring", "cannot be renewed; use a periodic token or AppRole"),
    ],
)
def test_unfit_credentials_are_named(dev_vault: DevVault, credential: str, expected: str) -> None:
    tokens = {
        "root": lambda: dev_vault.root_token,
        "bogus": lambda: "s.not-a-token-vault-knows",
        "no-delete": lambda: policy_token(
            dev_vault,
            'path "secret/data/*" { capabilities = ["create", "read", "update"] }\n'
            'path "secret/metadata/*" { capabilities = ["read", "list"] }',
        ),
        "no-list": lambda: policy_token(
            dev_vault,
            'path "secret/data/*" { capabilities = ["create", "read", "update"] }\n'
            'path "secret/metadata/*" { capabilities = ["read", "delete"] }',
        ),
        "expiring": lambda: policy_token(dev_vault, RPS_POLICY.read_text(), ttl="1h", renewable=False),
    }
    store = store_for(dev_vault, token=tokens[credential]())
    problem = store.credential_problem()
    assert problem is not None and expected in problem
    assert "\n" not in problem
    if credential == "bogus":
        assert store.health() == "forbidden token"
    if credential.startswith("no-"):
        assert store.health() == "token lacks capabilities"


def test_a_token_that_may_not_destroy_is_refused_before_anything_is_deleted(dev_vault: DevVault) -> None:
    store = store_for(
        dev_vault,
        token=policy_token(
            dev_vault,
            'path "secret/data/*" { capabilities = ["create", "read", "update"] }\n'
            'path "secret/metadata/*" { capabilities = ["read", "list"] }',
        ),
    )
    with pytest.raises(VaultCredentialRefused):
        store.ensure_destroyable("profiles/p1")


def run_server_start(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What daphne does first when it starts: import the ASGI application."""
    return subprocess.run(
        [sys.executable, "-c", "import rps_site.asgi"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_up_with_a_root_token_stops_with_one_clear_line(dev_vault: DevVault) -> None:
    environment = local_server_environment(
        vault_addr=dev_vault.addr, vault_token=dev_vault.root_token, database_url="sqlite:///:memory:"
    )
    result = run_server_start(environment)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "Refusing the Vault credential: it is a root token (policy 'root')" in last
    assert dev_vault.root_token not in result.stderr


@pytest.fixture
def approle_files(dev_vault: DevVault, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    role_id, secret_id = dev_vault.rps_approle(role=unique("rps"))
    secret_id_file = tmp_path / "secret-id"
    secret_id_file.write_text(secret_id + "\n")
    yield role_id, secret_id_file


def test_production_server_starts_with_approle_and_no_token(
    dev_vault: DevVault, approle_files: tuple[str, Path], tmp_path: Path
) -> None:
    role_id, secret_id_file = approle_files
    environment = local_server_environment(
        vault_addr=dev_vault.addr,
        vault_token="",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        RPS_VAULT_ROLE_ID=role_id,
        RPS_VAULT_SECRET_ID_FILE=str(secret_id_file),
        RPS_SECURE_SSL_REDIRECT="false",
    )
    environment.pop("RPS_VAULT_TOKEN")
    port = free_port()
    server = subprocess.Popen(
        daphne_command(port=port), env=environment, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/admin/health", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        # Health needs the database too; an unmigrated SQLite answers, so only Vault's part is asserted.
        assert response.json()["secretStore"] == {
            "name": "VAULT",
            "status": {"initialized": True, "sealed": False, "standby": False},
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_approle_renews_and_logs_in_again_while_workers_use_vault(dev_vault: DevVault, tmp_path: Path) -> None:
    """A 3 s token with a 7 s maximum: over 10 s, four threads never see a failure; one token
    outlives its 3 s lease (renewed), and later tokens come from new logins (maximum TTL), the
    last one with a secret ID rotated in the file meanwhile."""
    role = unique("rps")
    role_id, secret_id = dev_vault.rps_approle(role=role, token_ttl="3s", token_max_ttl="7s")
    secret_id_file = tmp_path / "secret-id"
    secret_id_file.write_text(secret_id)
    store = store_for(dev_vault, approle=AppRole(role_id=role_id, secret_id_file=str(secret_id_file)))
    first_seen: dict[str, float] = {}
    last_used: dict[str, float] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()
    stop = time.monotonic() + 10

    def work(worker: int) -> None:
        path = f"{unique('renewal')}/w{worker}"
        version = store.create(path, {"AMT_PASSWORD": Secret("v0")})
        while time.monotonic() < stop:
            try:
                token = store.token.current()
                version = store.update(path, {"AMT_PASSWORD": Secret(f"v{version}")}, expected_version=version)
                stored = store.read(path)
                assert stored is not None and stored.version == version
                now = time.monotonic()
                with lock:
                    first_seen.setdefault(token, now)
                    last_used[token] = now
            except BaseException as error:  # noqa: BLE001 - every failure is the finding
                failures.append(error)
                return
            time.sleep(0.1)
        store.destroy(path)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in workers:
        thread.start()
    time.sleep(1)
    # Rotate the secret ID: the next login must read the new one from the file.
    client = dev_vault.root_client()
    rotated = client.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    secret_id_file.write_text(rotated)
    client.auth.approle.destroy_secret_id(role, secret_id)
    for thread in workers:
        thread.join()
    store.token.close()
    assert not failures, failures
    lifetimes = {token: last_used[token] - first_seen[token] for token in first_seen}
    assert max(lifetimes.values()) > 3.5, f"no token outlived its 3 s lease: {lifetimes}"
    assert len(lifetimes) >= 2, "no new login after the 7 s maximum TTL"


def test_a_periodic_static_token_is_renewed_while_the_server_is_idle(dev_vault: DevVault) -> None:
    dev_vault.rps_token()  # writes the shipped policy
    token = dev_vault.root_client().auth.token.create(policies=["rps"], period="3s")["auth"]["client_token"]
    store = store_for(dev_vault, token=token)
    path = unique("idle")
    store.create(path, {"AMT_PASSWORD": Secret("x")})  # first use: looks the token up, starts renewing
    time.sleep(6)  # twice the period without a request: only the renewal thread keeps it alive
    stored = store.read(path)
    store.token.close()
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == "x"


def test_a_revoked_approle_token_is_replaced_by_a_new_login(dev_vault: DevVault) -> None:
    role_id, secret_id = dev_vault.rps_approle(role=unique("rps"))
    store = store_for(dev_vault, approle=AppRole(role_id=role_id, secret_id=secret_id))
    path = unique("revoked")
    store.create(path, {"AMT_PASSWORD": Secret("x")})
    revoked = store.token.current()
    dev_vault.root_client().auth.token.revoke(revoked)
    stored = store.read(path)  # 403, a new login, the same request again
    assert stored is not None and store.token.current() != revoked
    store.token.close()
