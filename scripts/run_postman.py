"""Run the upstream Postman suites against rps-django (spec/postman-suite.md §7).

Serves the app with daphne on loopback over plain HTTP, on a fresh database and a fresh OpenBao
dev server with default limits, makes token-carrying copies of both collections, runs newman
and prints the assertion counts:

    postman-main: 493 passed, 0 failed
    postman-security: 8 passed, 0 failed

The suites are part of the interop suite (tests/shared_reference.py): without them this prints
one line saying so and exits 0, or 1 with `RPS_INTEROP_REQUIRED=true` (CI).
Exit status: 0 when every assertion passed (or --report-only), 1 otherwise.
Options: --folder NAME (run one folder of the main suite), --report-only, --keep (leave the
server running for a look; Ctrl-C ends it; the token is in the file it names), --database-url URL
(default: a new PostgreSQL database on 127.0.0.1:5432, dropped afterwards; `sqlite` for a
temporary SQLite file).
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
from tests.shared_reference import INTEROP_REQUIRED, POSTMAN, SKIP_PREFIX, missing_reference  # noqa: E402

PG_SERVER = "postgres://postgres@127.0.0.1:5432"


class HarnessError(Exception):
    """A step of the harness failed; the message is the one line printed."""


def newman_binary() -> str:
    """newman@6 on PATH, else the copy in var/node, installed there (once) with npm."""
    found = shutil.which("newman")
    if found:
        return found
    local = ROOT / "var" / "node" / "bin" / "newman"
    if not local.exists():
        if not shutil.which("npm"):
            raise HarnessError("newman is not installed and npm is missing: install Node.js and newman@6")
        print("installing newman@6 into var/node with npm (once) ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        installed = subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(ROOT / "var" / "node"), "--global", "newman@6"],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            cause = (installed.stderr.strip().splitlines() or ["no message"])[-1]
            raise HarnessError(f"npm could not install newman@6 (exit {installed.returncode}): {cause}")
        print(f"installed newman in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return str(local)


def token_copy(source: Path, copy: Path, token: str) -> None:
    """A run-time copy of a collection that authenticates with one bearer token (assertions untouched).

    Every request inherits the collection-level bearer auth (some carry upstream's own hard-coded
    JWTs), and the pre-request `pm.sendRequest` calls, which send no credentials, get the header."""
    collection = json.loads(source.read_text())
    collection["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": token, "type": "string"}]}
    header = f"'Authorization': 'Bearer {token}'"

    def requests(items: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        return [leaf for item in items for leaf in (requests(item["item"]) if "item" in item else [item])]

    for item in requests(collection["item"]):
        item["request"].pop("auth", None)
        for event in item.get("event", []):
            text = "\n".join(event["script"]["exec"])
            if event["listen"] != "prerequest" or "sendRequest" not in text:
                continue
            if "header: {" in text:
                text = text.replace("header: {", "header: {" + header + ", ")
            else:
                text = text.replace("method: '", "header: {" + header + "}, method: '")
            event["script"]["exec"] = text.split("\n")
    copy.write_text(json.dumps(collection))


def create_database(url: str | None, work: Path) -> tuple[str, str | None]:
    """A fresh database for this run; returns its URL and the PostgreSQL name to drop, if any."""
    if url == "sqlite":
        return f"sqlite:///{work / 'postman.sqlite3'}", None
    if url:
        return url, None
    name = f"rps_postman_{random_source.token_hex(4)}"
    created = subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True, text=True, check=False
    )
    if created.returncode != 0:
        cause = (created.stderr.strip().splitlines() or ["no message"])[-1]
        raise HarnessError(f"cannot create a PostgreSQL database on 127.0.0.1:5432: {cause}")
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
    raise HarnessError(f"the server did not answer at {url} within {seconds:.0f} s")


def run_newman(
    newman: str, collection: Path, report: Path, env_vars: dict[str, str], extra: list[str]
) -> tuple[int, int, list[str]]:
    command = [
        newman,
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
    reason = missing_reference(POSTMAN)
    if reason:
        if INTEROP_REQUIRED:
            print(reason.replace(SKIP_PREFIX, "postman: interop suite required (RPS_INTEROP_REQUIRED)", 1), flush=True)
            return 1
        print(f"postman: {reason}", flush=True)
        return 0
    try:
        return run_suites(args)
    except HarnessError as error:
        print(f"postman: {error}", flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


def run_suites(args: argparse.Namespace) -> int:
    newman = newman_binary()
    work = Path(tempfile.mkdtemp(prefix="rps-postman-"))
    vault = start_dev_vault(log_path=work / "openbao.log")
    database_name = None
    server = None
    try:
        database_url, database_name = create_database(args.database_url, work)
        port = free_port()
        environment = local_server_environment(
            vault_addr=vault.addr,
            vault_token=vault.rps_token(),
            database_url=database_url,
            RPS_SECURE_SSL_REDIRECT="false",
        )
        try:
            run_manage(environment, "migrate", "--noinput", "-v", "0")
            token = run_manage(environment, "rps_token", "--tenant", "")
        except subprocess.CalledProcessError as step:
            cause = (str(step.stderr).strip().splitlines() or ["no message"])[-1]
            raise HarnessError(f"manage.py {step.cmd[2]} failed: {cause}") from None
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
            token_file = work / "token"
            token_file.write_text(token)
            token_file.chmod(0o600)
            print(f"serving on http://127.0.0.1:{port} ; bearer token in {token_file}", flush=True)

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
            token_copy(POSTMAN / source, copy, token)
            passed, failed, failures = run_newman(newman, copy, work / f"{label}-report.json", env_vars, extra)
            for failure in failures:
                print(f"  FAILED {failure}", flush=True)
            print(f"postman-{label}: {passed} passed, {failed} failed", flush=True)
            all_passed = all_passed and failed == 0
        if args.keep:
            print("server still running; Ctrl-C to stop", flush=True)
            server.wait()
        return 0 if all_passed or args.report_only else 1
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
