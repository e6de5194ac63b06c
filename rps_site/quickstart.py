"""`python -m rps_site.quickstart`: the zero-setup server for a developer machine.

SQLite, a local OpenBao dev server it launches itself, a self-signed certificate, HTTPS and WSS
on one port, a portal login printed on start. Generated keys are kept under `var/` so a restart
keeps sessions; the dev Vault keeps secrets in memory only, so the SQLite file is reset with it.
"""

from __future__ import annotations

import json
import os
import secrets as random_source
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "var"


def persistent_keys() -> dict[str, str]:
    path = RUN_DIR / "quickstart-keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys = {"RPS_SECRET_KEY": random_source.token_urlsafe(48), "RPS_JWT_SECRET": random_source.token_urlsafe(48)}
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return keys


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    from rps_site.openbao_dev import start_dev_vault
    from rps_site.serving import daphne_command, make_self_signed_certificate

    RUN_DIR.mkdir(exist_ok=True)
    port = int(os.environ.get("RPS_PORT", "8443"))
    if port_in_use(port):
        # Checked before anything under var/ is touched: a second start would empty the database
        # of the server already running there.
        print(f"port {port} is in use (another ./rps serve?); stop it or set RPS_PORT", file=sys.stderr)
        return 1
    vault = start_dev_vault(log_path=RUN_DIR / "openbao.log")
    # The dev Vault forgets everything on exit, so the database that points at it starts fresh too.
    database = RUN_DIR / "quickstart.sqlite3"
    database.unlink(missing_ok=True)
    environment = {
        **os.environ,
        "RPS_DEBUG": os.environ.get("RPS_DEBUG", "false"),
        "RPS_VAULT_ADDR": vault.addr,
        "RPS_VAULT_TOKEN": vault.rps_token(),
        "RPS_DATABASE_URL": os.environ.get("RPS_DATABASE_URL", f"sqlite:///{database}"),
        "RPS_ALLOWED_HOSTS": os.environ.get("RPS_ALLOWED_HOSTS", "localhost,127.0.0.1"),
        "RPS_CSRF_TRUSTED_ORIGINS": os.environ.get("RPS_CSRF_TRUSTED_ORIGINS", f"https://localhost:{port}"),
        "RPS_HSTS_SECONDS": os.environ.get("RPS_HSTS_SECONDS", "0"),
        "DJANGO_SETTINGS_MODULE": "rps_site.settings",
        **{key: value for key, value in persistent_keys().items() if key not in os.environ},
    }
    admin_password = random_source.token_urlsafe(12)
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=environment, check=True, cwd=ROOT)
        # Device TLS certificates are signed with the CA in MPSCerts; MPS writes it in production.
        subprocess.run([*manage, "rps_seed_mps_ca"], env=environment, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*manage, "rps_quickstart_admin", "--password-from-env"],
            env={**environment, "RPS_QUICKSTART_ADMIN_PASSWORD": admin_password},
            check=True,
            cwd=ROOT,
        )
        token = subprocess.run(
            [*manage, "rps_token", "--subject", "quickstart"],
            env=environment,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        token_file = RUN_DIR / "quickstart-token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        tls = make_self_signed_certificate(RUN_DIR / "tls")
        print(
            f"\nrps-django is starting on https://localhost:{port}\n"
            f"  portal:   https://localhost:{port}/admin/   user: admin   password: {admin_password}\n"
            f"  API:      https://localhost:{port}/api/v1/admin/  (docs at /api/docs)\n"
            f'            token in {token_file}: curl -k -H "Authorization: Bearer $(cat {token_file})" '
            f"https://localhost:{port}/api/v1/admin/profiles\n"
            f"  devices:  wss://localhost:{port}/activate  (self-signed certificate: {tls[0]})\n"
            f"  Enterprise Assistant: wss://localhost:{port}/ea  (accounts in RPS_EA_ACCOUNTS)\n"
            f"  Vault:    {vault.addr} (OpenBao dev server, in memory)\n",
            flush=True,
        )
        ea_port = int(os.environ.get("RPS_EA_PORT", "0"))
        command = daphne_command(port=port, bind="0.0.0.0", tls=tls, ea_port=ea_port)  # noqa: S104
        return subprocess.call(command, env=environment, cwd=ROOT)
    except KeyboardInterrupt:
        return 0
    finally:
        vault.stop()


if __name__ == "__main__":
    sys.exit(main())
