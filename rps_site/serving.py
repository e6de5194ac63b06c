"""How rps-django is served: daphne (through `rps_site.serve`) on one port for HTTPS and WSS, and a
self-signed certificate for the quick start and the tests. Production passes its own certificate
and key."""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEVICE_FRAME_LIMIT = 256 * 1024  # a large Pull is bigger than upstream's 100 KiB after base64


def make_self_signed_certificate(directory: Path, *, hostnames: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
    """Write `cert.pem` and `key.pem` (ECDSA P-256) for localhost/127.0.0.1 unless they exist."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    alternative_names: list[x509.GeneralName] = [x509.DNSName(host) for host in hostnames]
    alternative_names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def daphne_command(
    *,
    port: int,
    bind: str = "127.0.0.1",
    tls: tuple[Path, Path] | None = None,
    extra: tuple[str, ...] = (),
    ea_port: int = 0,
) -> list[str]:
    """The server's command line (`rps_site.serve`, daphne with TLS-aware WebSocket scopes): TLS when
    a certificate is given (HTTPS and WSS on one port), and with `ea_port` (= `RPS_EA_PORT`) a second
    endpoint, the Enterprise Assistant's own listener."""

    def endpoint(listen_port: int) -> str:
        if tls is not None:
            cert_path, key_path = tls
            return f"ssl:{listen_port}:privateKey={key_path}:certKey={cert_path}:interface={bind}"
        return f"tcp:{listen_port}:interface={bind}"

    endpoints = ["-e", endpoint(port)] + (["-e", endpoint(ea_port)] if ea_port else [])
    return [
        sys.executable,
        "-m",
        "rps_site.serve",
        *endpoints,
        *extra,
        "rps_site.asgi:application",
    ]


def local_server_environment(
    *, vault_addr: str, vault_token: str, database_url: str, **overrides: str
) -> dict[str, str]:
    """The environment of a local server started by the quick start, the tests, the Postman harness
    or a benchmark: production settings (debug off) with fresh random keys, the given Vault and
    database, loopback hosts, and nothing inherited from the caller's own `RPS_*` variables."""
    import os
    import secrets as random_source

    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("RPS_")},
        "DJANGO_SETTINGS_MODULE": "rps_site.settings",
        "RPS_DEBUG": "false",
        "RPS_SECRET_KEY": random_source.token_urlsafe(48),
        "RPS_JWT_SECRET": random_source.token_urlsafe(48),
        "RPS_VAULT_ADDR": vault_addr,
        "RPS_VAULT_TOKEN": vault_token,
        "RPS_DATABASE_URL": database_url,
        "RPS_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "RPS_HSTS_SECONDS": "0",
        "RPS_LOG_LEVEL": "WARNING",
        **overrides,
    }


def run_manage(environment: dict[str, str], *arguments: str) -> str:
    """`manage.py <arguments>` in `environment`; returns what it printed."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, str(root / "manage.py"), *arguments],
        env=environment,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
