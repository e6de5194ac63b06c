"""Run the upstream Postman suites against rps-django (spec/postman-suite.md §7).

Serves the app with daphne on loopback over plain HTTP, on a fresh database and a fresh OpenBao
dev server with default limits, makes token-carrying copies of both collections with
shared/tools/postman_copy.py, runs newman and prints the assertion counts:

    postman-main: 493 passed, 0 failed
    postman-security: 8 passed, 0 failed

Exit status: 0 when every assertion passed (or --report-only), 1 otherwise.
Options: --folder NAME (run one folder of the main suite), --report-only, --keep (leave the
server running for a look; Ctrl-C ends it), --database-url URL (default: a new PostgreSQL
database on 127.0.0.1:5432, dropped afterwards; `sqlite` for a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as random_source
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rps_site.openbao_dev import free_port, start_dev_vault  # noqa: E402
from rps_site.serving import daphne_command, local_server_environment, run_manage  # noqa: E402

SHARED = Path(os.environ.get("RPS_SHARED_DIR", ROOT.parent / "shared"))
POSTMAN = SHARED / "reference" / "postman"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def newman_binary() -> str:
    found = shutil.which("newman") or str(ROOT / "var" / "node" / "bin" / "newman")
    if not Path(found).exists():
        raise SystemExit("newman is not installed: npm install -g newman@6")
    return found


def create_database(url: str | None, work: Path) -> tuple[str, str | None]:
    """A fresh database for this run; returns its URL and the PostgreSQL name to drop, if any."""
    if url == "sqlite":
        return f"sqlite:///{work / 'postman.sqlite3'}", None
    if url:
        return url, None
    name = f"rps_postman_{random_source.token_hex(4)}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    return f"{PG_SERVER}/{name}", name


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (loopback http only)
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer at {url}")


def run_newman(
    collection: Path, report: Path, env_vars: dict[str, str], extra: list[str]
) -> tuple[int, int, list[str]]:
    command = [
        newman_binary(),
        "run",
        str(collection),
        "-e",
        str(POSTMAN / "rps.postman_environment.json"),
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--reporter-cli-no-banner",
        "--reporter-cli-no-summary",
        "--reporter-cli-no-success-assertions",
        "--color",
        "off",
        *[item for key, value in env_vars.items() for item in ("--env-var", f"{key}={value}")],
        *extra,
    ]
    subprocess.run(command, stdout=sys.stderr, check=False)
    data = json.loads(report.read_text())
    stats = data["run"]["stats"]["assertions"]
    failures = []
    for failure in data["run"]["failures"]:
        error = failure["error"]
        failures.append(f"{failure['source'].get('name', '?')}: {error.get('test', '')}: {error.get('message', '')}")
    return stats["total"] - stats["failed"], stats["failed"], failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", action="append", default=[])
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("RPS_POSTMAN_DATABASE_URL"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rps-postman-"))
    vault = start_dev_vault(log_path=work / "openbao.log")
    database_url, database_name = create_database(args.database_url, work)
    port = free_port()
    environment = local_server_environment(
        vault_addr=vault.addr,
        vault_token=vault.rps_token(),
        database_url=database_url,
        RPS_SECURE_SSL_REDIRECT="false",
    )
    server = None
    try:
        run_manage(environment, "migrate", "--noinput", "-v", "0")
        token = run_manage(environment, "rps_token", "--tenant", "")
        server_log = open(work / "server.log", "wb")  # noqa: SIM115  (the server owns it while it runs)
        server = subprocess.Popen(
            daphne_command(port=port), env=environment, cwd=ROOT, stdout=server_log, stderr=server_log
        )
        wait_for(f"http://127.0.0.1:{port}/api/v1/admin/version")
        env_vars = {
            "host": f"127.0.0.1:{port}",
            "vaultHost": vault.addr.removeprefix("http://"),
            "vaultToken": vault.root_token,
        }
        if args.keep:
            print(f"serving on http://127.0.0.1:{port} ; token: {token}", flush=True)

        all_passed = True
        suites = [
            ("main", "rps.postman_collection.json", [arg for folder in args.folder for arg in ("--folder", folder)]),
        ]
        if not args.folder:
            suites.append(
                (
                    "security",
                    "rps_security_api_test.postman_collection.json",
                    ["-d", str(POSTMAN / "data" / "rps_security_api_test.data.json")],
                )
            )
        for label, source, extra in suites:
            copy = work / f"{label}.json"
            subprocess.run(
                [sys.executable, str(SHARED / "tools" / "postman_copy.py"), str(POSTMAN / source), str(copy), token],
                check=True,
            )
            passed, failed, failures = run_newman(copy, work / f"{label}-report.json", env_vars, extra)
            for failure in failures:
                print(f"  FAILED {failure}", flush=True)
            print(f"postman-{label}: {passed} passed, {failed} failed", flush=True)
            all_passed = all_passed and failed == 0
        if args.keep:
            print("server still running; Ctrl-C to stop", flush=True)
            server.wait()
        return 0 if all_passed or args.report_only else 1
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        vault.stop()
        if database_name:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database_name], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
