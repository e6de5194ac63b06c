"""`./rps serve` (`python -m rps_site.quickstart`): rps-django on a developer machine, data kept.

SQLite and a local OpenBao server whose storage lives under the state directory (`var/`), a
self-signed certificate, HTTPS and WSS on one port of 127.0.0.1, a portal login. A restart keeps
every domain, profile, device and secret; `--reset` starts over. A lock on the state directory
keeps a second server from using (or emptying) the first one's data. `RPS_VAULT_ADDR` with
`RPS_VAULT_TOKEN`, and `RPS_DATABASE_URL`, replace the embedded Vault and database.

Every child (OpenBao, the manage.py steps, daphne) is stopped when the quick start ends: on
Ctrl-C, on SIGTERM or SIGHUP (forwarded), and, on Linux, even when it is killed outright.

Standard library only at import: `./rps serve --help` runs before any requirement is installed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets as random_source
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rps_site.openbao_dev import (
    LocalVault,
    LocalVaultError,
    die_with_parent,
    start_local_vault,
    stop_process,
    vault_health,
    write_private,
)

ROOT = Path(__file__).resolve().parent.parent
WEBUI_ORIGIN = "http://localhost:4200"  # the stock sample web UI's development server

ENVIRONMENT_HELP = """\
environment:
  RPS_PORT            port for HTTPS and WSS (default 8443)
  RPS_BIND            address to listen on (default 127.0.0.1; e.g. 0.0.0.0 with RPS_ALLOWED_HOSTS)
  RPS_RUN_DIR         state directory (default var/ in the checkout): database, OpenBao data and keys,
                      certificate, token; one server at a time may use it
  RPS_DATABASE_URL    use this database instead of var/quickstart.sqlite3
  RPS_VAULT_ADDR, RPS_VAULT_TOKEN
                      use this Vault (both together) instead of the embedded OpenBao
  other RPS_* settings (README, Configuration) are passed to the server as they are
"""


class QuickStartError(Exception):
    """The quick start cannot go on; the message is the one line printed."""


class StepFailed(Exception):
    """A manage.py step failed; it has printed why itself."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exit {returncode}")
        self.returncode = returncode


class Stop(Exception):
    """SIGTERM or SIGHUP arrived: end like Ctrl-C."""


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./rps serve",
        description="Start rps-django with embedded defaults; its data is kept across restarts.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the embedded database, OpenBao data, keys and tokens first (asks for confirmation)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm --reset without asking (for scripts)")
    parser.add_argument(
        "--webui",
        nargs="?",
        const=WEBUI_ORIGIN,
        metavar="ORIGIN",
        help=f"pair with the stock web UI and MPS: allow the UI's origin (default {WEBUI_ORIGIN}), "
        "let bearer callers export profiles, and print the JWT and Vault settings MPS must share",
    )
    return parser.parse_args(argv)


class StateLock:
    """An exclusive flock on `<state directory>/quickstart.lock`, held for the server's lifetime.

    The kernel releases it when the process ends however it ends, so a stale lock cannot exist."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "quickstart.lock"
        self.descriptor: int | None = None

    def acquire(self, *, port: int) -> None:
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 100).decode(errors="replace").split()
            os.close(descriptor)
            who = f" (pid {holder[0]}, port {holder[1]})" if len(holder) == 2 else ""
            raise QuickStartError(
                f"{self.path.parent} is in use by another ./rps serve{who}; stop it first, "
                "or give this one its own RPS_RUN_DIR"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} {port}\n".encode())
        self.descriptor = descriptor


class Children:
    """Every process the quick start starts, stopped together (newest first) when it ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[Any]] = []

    def start(self, command: list[str], **options: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(command, cwd=ROOT, preexec_fn=die_with_parent, **options)  # noqa: PLW1509
        self.processes.append(process)
        return process

    def run(self, command: list[str], **options: Any) -> str:
        """Run a step to its end; returns what it printed on stdout; raises StepFailed."""
        process = self.start(command, stdout=subprocess.PIPE, text=True, **options)
        output, _ = process.communicate()
        self.processes.remove(process)
        if process.returncode != 0:
            raise StepFailed(process.returncode)
        return str(output).strip()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()

    def adopt(self, vault: LocalVault) -> None:
        self.processes.append(vault.process)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def display(path: Path) -> str:
    """A path as a person in the checkout would type it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def persistent_keys(run_dir: Path) -> dict[str, str]:
    path = run_dir / "quickstart-keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys = {"RPS_SECRET_KEY": random_source.token_urlsafe(48), "RPS_JWT_SECRET": random_source.token_urlsafe(48)}
    write_private(path, json.dumps(keys))
    return keys


def check_port(bind: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((bind, port))
        except OSError as error:
            raise QuickStartError(
                f"cannot listen on {bind}:{port}: {error.strerror} (another server?); stop it or set RPS_PORT"
            ) from None


def wait_until_listening(server: subprocess.Popen[Any], port: int, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise StepFailed(server.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise QuickStartError(f"the server did not listen on port {port} within {seconds:.0f} s")


STATE_FILES = (
    "quickstart.sqlite3",
    "quickstart.sqlite3-wal",
    "quickstart.sqlite3-shm",
    "quickstart-keys.json",
    "quickstart-token",
    "quickstart-admin-password",
    "openbao.log",
)


def reset_state(run_dir: Path, *, confirmed: bool) -> None:
    """Delete the embedded state (database, OpenBao, keys, tokens; the certificate stays)."""
    import shutil

    what = f"the database, OpenBao data, keys and tokens under {display(run_dir)}"
    if not confirmed:
        if not sys.stdin.isatty():
            raise QuickStartError(f"--reset deletes {what}; add --yes to confirm when not on a terminal")
        if input(f"--reset deletes {what}. Type 'yes' to go on: ").strip() != "yes":
            raise QuickStartError("nothing was deleted")
    for name in STATE_FILES:
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "openbao", ignore_errors=True)
    kept = [name for name in ("RPS_DATABASE_URL", "RPS_VAULT_ADDR") if os.environ.get(name)]
    note = f" ({' and '.join(kept)} point elsewhere and were not touched)" if kept else ""
    print(f"rps serve: deleted {what}{note}", flush=True)


def external_vault() -> tuple[str, str] | None:
    addr, token = os.environ.get("RPS_VAULT_ADDR", ""), os.environ.get("RPS_VAULT_TOKEN", "")
    if not addr and not token:
        return None
    if not addr or not token:
        raise QuickStartError(
            "set both RPS_VAULT_ADDR and RPS_VAULT_TOKEN to use your own Vault, or neither for the embedded OpenBao"
        )
    state = vault_health(addr, cafile=os.environ.get("RPS_VAULT_CA_FILE") or None)
    if state == "down":
        raise QuickStartError(f"Vault at {addr} (RPS_VAULT_ADDR) cannot be reached; start it or unset RPS_VAULT_ADDR")
    if state != "active":
        raise QuickStartError(f"Vault at {addr} (RPS_VAULT_ADDR) is {state}; unseal or initialise it first")
    return addr, token


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    run_dir = Path(os.environ.get("RPS_RUN_DIR") or ROOT / "var").resolve()
    try:
        port = int(os.environ.get("RPS_PORT", "8443"))
    except ValueError:
        print("rps serve: RPS_PORT must be a port number", file=sys.stderr)
        return 1
    bind = os.environ.get("RPS_BIND", "127.0.0.1")
    children = Children()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        return serve(args, run_dir=run_dir, port=port, bind=bind, children=children)
    except QuickStartError as error:
        print(f"rps serve: {error}", file=sys.stderr, flush=True)
        return 1
    except LocalVaultError as error:
        print(f"rps serve: {error} (log: {display(run_dir / 'openbao.log')})", file=sys.stderr, flush=True)
        return 1
    except StepFailed as failed:
        return failed.returncode
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave a child behind.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        children.stop_all()


def serve(args: argparse.Namespace, *, run_dir: Path, port: int, bind: str, children: Children) -> int:
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    StateLock(run_dir).acquire(port=port)  # before anything under the state directory is touched
    if args.reset:
        reset_state(run_dir, confirmed=args.yes)
    check_port(bind, port)

    vault_source = external_vault()
    embedded: LocalVault | None = None
    if vault_source is None:
        try:
            embedded = start_local_vault(run_dir / "openbao", log_path=run_dir / "openbao.log")
        except RuntimeError as missing:  # no `bao` binary
            raise QuickStartError(str(missing)) from None
        children.adopt(embedded)
        vault_source = (embedded.addr, embedded.token)
    vault_addr, vault_token = vault_source

    keys = {key: value for key, value in persistent_keys(run_dir).items() if key not in os.environ}
    database = run_dir / "quickstart.sqlite3"
    local_origins = f"https://localhost:{port},https://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rps_site.settings",
        "RPS_DEBUG": os.environ.get("RPS_DEBUG", "false"),
        "RPS_VAULT_ADDR": vault_addr,
        "RPS_VAULT_TOKEN": vault_token,
        "RPS_DATABASE_URL": os.environ.get("RPS_DATABASE_URL") or f"sqlite:///{database}",
        "RPS_ALLOWED_HOSTS": os.environ.get("RPS_ALLOWED_HOSTS", "localhost,127.0.0.1"),
        "RPS_CSRF_TRUSTED_ORIGINS": os.environ.get("RPS_CSRF_TRUSTED_ORIGINS", local_origins),
        "RPS_HSTS_SECONDS": os.environ.get("RPS_HSTS_SECONDS", "0"),
        **keys,
    }
    if args.webui:
        environment.setdefault("RPS_CORS_ALLOWED_ORIGINS", args.webui)
        environment["RPS_EXPORT_VIA_JWT"] = "true"

    password_file = run_dir / "quickstart-admin-password"
    password = "" if password_file.exists() else random_source.token_urlsafe(12)  # the admin, on first start
    token = children.run(
        [sys.executable, str(ROOT / "manage.py"), "rps_quickstart_setup"],
        env={**environment, "RPS_QUICKSTART_ADMIN_PASSWORD": password},
    )
    if password:
        write_private(password_file, password)
    token_file = run_dir / "quickstart-token"
    write_private(token_file, token)

    from rps_site.serving import daphne_command, make_self_signed_certificate

    tls = make_self_signed_certificate(run_dir / "tls")
    ea_port = int(os.environ.get("RPS_EA_PORT", "0"))  # the Enterprise Assistant's own listener, if any
    server = children.start(daphne_command(port=port, bind=bind, tls=tls, ea_port=ea_port), env=environment)
    wait_until_listening(server, port)
    url = f"https://localhost:{port}"
    data = "RPS_DATABASE_URL" if os.environ.get("RPS_DATABASE_URL") else display(database)
    secrets = f"OpenBao at {vault_addr} ({display(run_dir / 'openbao')})" if embedded else f"Vault at {vault_addr}"
    lines = [
        "",
        f"rps-django is running on {url} (listening on {bind}:{port}; Ctrl-C stops it)",
        f"  portal:   {url}/admin/   user: admin   password: {password_file.read_text()} "
        f"(set on first start, in {display(password_file)})",
        f"  API:      {url}/api/v1/admin/   docs: {url}/api/docs",
        f'            curl -k -H "Authorization: Bearer $(cat {display(token_file)})" {url}/api/v1/admin/profiles',
        f"  devices:  wss://localhost:{port}/activate   (its certificate: {display(tls[0])}, for -cafile)",
        f"  Enterprise Assistant: wss://localhost:{port}/ea   (accounts in RPS_EA_ACCOUNTS)",
        f"  data:     {data} and {secrets}; kept across restarts (--reset starts over)",
    ]
    if args.webui:
        lines += webui_lines(environment, embedded, vault_addr, origin=args.webui)
    print("\n".join(lines) + "\n", flush=True)
    code = server.wait()
    if code != 0:
        print(f"rps serve: the server exited with code {code}", file=sys.stderr, flush=True)
    return code


def webui_lines(environment: dict[str, str], embedded: LocalVault | None, vault_addr: str, *, origin: str) -> list[str]:
    """What MPS must share with this server for the stock web UI to work against both."""
    mps_token = embedded.mps_token() if embedded else "(the token you gave MPS for this Vault)"
    prefix = environment.get("RPS_VAULT_PREFIX", "").strip("/")
    secrets_path = f"{environment.get('RPS_VAULT_MOUNT', 'secret')}/data/" + (f"{prefix}/" if prefix else "")
    return [
        f"  web UI:   CORS allows {origin}; bearer callers may export profiles (RPS_EXPORT_VIA_JWT=true)",
        "            MPS must share (its environment):",
        f"              MPS_JWT_SECRET={environment['RPS_JWT_SECRET']}",
        f"              MPS_JWT_ISSUER={environment.get('RPS_JWT_ISSUER', '9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc')}",
        f"              MPS_VAULT_ADDRESS={vault_addr}",
        f"              MPS_VAULT_TOKEN={mps_token}",
        f"              MPS_SECRETS_PATH={secrets_path}",
    ]


if __name__ == "__main__":
    sys.exit(main())
