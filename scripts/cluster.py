"""The reference topology on one machine, for tests and benches (README "Several workers").

    scripts/cluster.sh up [--workers 2] [--state var/cluster] [--tls-at proxy|worker]
                          [--env RPS_NAME=value ...] [--asgi module:application] [--json]
    scripts/cluster.sh status | restart [--only PORT] | down [--state DIR]

`up` starts, each on a free loopback port: Redis (a server of its own, nothing persisted), an
OpenBao dev server with a token holding the shipped policy (deploy/rps-vault-policy.hcl),
a fresh PostgreSQL database on 127.0.0.1:5432 (migrated), N daphne workers
(`rps_site.serve`) and HAProxy from deploy/haproxy.cfg.template, which terminates TLS for
HTTPS and WSS (`--tls-at worker`: the pass-through variant, deploy/haproxy-passthrough.cfg.template,
where the workers keep TLS). It prints the URLs; everything it made lives in the state directory
(cluster.json, the bearer token, the CA certificate, logs/).

`restart` restarts every worker in turn, as a deployment would: SIGTERM (the worker drains:
its health check fails, it stops listening, its sessions finish), a new worker on the same port
as soon as the old one has stopped listening, and the next worker once HAProxy counts the new
one up. The old workers finish their sessions in the background (`status` lists them).
`down` stops everything (workers at once, without draining) and drops the database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets as random_source
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rps_site.openbao_dev import free_port, start_dev_vault  # noqa: E402
from rps_site.serving import (  # noqa: E402
    daphne_command,
    local_server_environment,
    make_self_signed_certificate,
    run_manage,
)

DEFAULT_STATE = ROOT / "var" / "cluster"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
START_SECONDS = 60.0
ASGI_APPLICATION = "rps_site.asgi:application"
# Seconds a draining worker keeps listening while its health check says 503: HAProxy checks every
# second and counts a worker down after two failures (the templates' `inter 1s fall 2`).
DRAIN_NOTICE = "3"
PASSTHROUGH_UNLIMITED = "1000000"


class ClusterError(Exception):
    pass


# -- processes --------------------------------------------------------------------------------------


def start_process(command: list[str], *, log: Path, environment: dict[str, str] | None = None) -> int:
    """Start `command` in a session of its own (it outlives this script), output to `log`."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        exited = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
    if exited:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # when it is our own child
    return not exited


def stop_process(pid: int, *, signum: int = signal.SIGTERM, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until(
    what: str, check: Any, *, seconds: float = START_SECONDS, pid: int | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not alive(pid):
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise ClusterError(f"{what}: the process exited\n{tail}")
        time.sleep(0.1)
    raise ClusterError(f"{what}: not ready within {seconds:g} s")


def http_status(url: str, *, context: ssl.SSLContext | None = None) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310  (loopback URLs we built)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return None


def port_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# -- HAProxy ----------------------------------------------------------------------------------------


def haproxy_command(state: Path, *words: str) -> str:
    """A command on HAProxy's stats socket (`show stat`, `show servers state`, ...)."""
    with socket.socket(socket.AF_UNIX) as control:
        control.settimeout(5)
        control.connect(str(state / "haproxy.sock"))
        control.sendall((" ".join(words) + "\n").encode())
        chunks = []
        while chunk := control.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def haproxy_server_states(state: Path) -> dict[str, str]:
    """Worker name → HAProxy's view of it (UP, DOWN, ...)."""
    lines = haproxy_command(state, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    states = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("svname") not in (None, "FRONTEND", "BACKEND"):
            states[row["svname"]] = row["status"]
    return states


def render_haproxy_config(cluster: dict[str, Any], state: Path) -> Path:
    passthrough = cluster["tls_at"] == "worker"
    template = ROOT / "deploy" / ("haproxy-passthrough.cfg.template" if passthrough else "haproxy.cfg.template")
    servers = "\n".join(f"    server w{worker['port']} 127.0.0.1:{worker['port']}" for worker in cluster["workers"])
    limits = cluster["proxy_limits"]
    text = string.Template(template.read_text()).substitute(
        bind=f"127.0.0.1:{cluster['port']}",
        certificate=str(state / "tls" / "haproxy.pem"),
        worker_ca=str(state / "tls" / "cert.pem"),
        stats_socket=str(state / "haproxy.sock"),
        maxconn="8000",
        servers=servers,
        sockets_per_address=limits["sockets_per_address"],
        connections_per_minute=limits["connections_per_minute"],
    )
    path = state / "haproxy.cfg"
    path.write_text(text)
    return path


# -- workers ----------------------------------------------------------------------------------------


def worker_command(cluster: dict[str, Any], state: Path, port: int) -> list[str]:
    extra = ("--access-log", os.devnull)
    if cluster["tls_at"] == "worker":
        command = daphne_command(port=port, tls=(state / "tls" / "cert.pem", state / "tls" / "key.pem"), extra=extra)
    else:
        command = daphne_command(port=port, extra=("--proxy-headers", *extra))
    command[-1] = cluster["asgi"]
    return command


def worker_environment(state: Path) -> dict[str, str]:
    environment: dict[str, str] = json.loads((state / "worker.env.json").read_text())
    return {**{key: value for key, value in os.environ.items() if not key.startswith("RPS_")}, **environment}


def spawn_worker(cluster: dict[str, Any], state: Path, port: int) -> int:
    log = state / "logs" / f"worker-{port}.log"
    return start_process(worker_command(cluster, state, port), log=log, environment=worker_environment(state))


def wait_for_worker(cluster: dict[str, Any], state: Path, port: int, pid: int) -> None:
    health = f"{'https' if cluster['tls_at'] == 'worker' else 'http'}://127.0.0.1:{port}/healthz"
    context = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
    log = state / "logs" / f"worker-{port}.log"
    wait_until(f"worker on port {port}", lambda: http_status(health, context=context) == 200, pid=pid, log=log)


# -- commands ---------------------------------------------------------------------------------------


def load(state: Path) -> dict[str, Any]:
    path = state / "cluster.json"
    if not path.exists():
        raise ClusterError(f"no cluster in {state} (scripts/cluster.sh up)")
    cluster: dict[str, Any] = json.loads(path.read_text())
    return cluster


def save(cluster: dict[str, Any], state: Path) -> None:
    path = state / "cluster.json"
    path.write_text(json.dumps(cluster, indent=2))
    path.chmod(0o600)


def all_pids(cluster: dict[str, Any]) -> list[int]:
    return [
        *(worker["pid"] for worker in cluster["workers"]),
        *cluster.get("draining", []),
        *(cluster["processes"][name] for name in ("haproxy", "redis", "openbao") if cluster["processes"].get(name)),
    ]


def up(args: argparse.Namespace) -> dict[str, Any]:
    state: Path = args.state
    if (state / "cluster.json").exists() and any(alive(pid) for pid in all_pids(load(state))):
        raise ClusterError(f"a cluster is already up in {state} (scripts/cluster.sh down first)")
    shutil.rmtree(state, ignore_errors=True)
    (state / "logs").mkdir(parents=True)
    state.chmod(0o700)
    overrides = dict(item.split("=", 1) for item in args.env)
    cluster: dict[str, Any] = {
        "tls_at": args.tls_at,
        "asgi": args.asgi,
        "port": args.port or free_port(),
        "workers": [],
        "draining": [],
        "processes": {},
        "proxy_limits": {
            "sockets_per_address": overrides.get("RPS_DEVICE_SOCKETS_PER_ADDRESS", "100"),
            "connections_per_minute": overrides.get("RPS_DEVICE_CONNECTIONS_PER_MINUTE", "600"),
        },
    }
    if args.tls_at == "worker":
        # The workers see every client as HAProxy: the per-address limits are HAProxy's here.
        overrides.update(
            RPS_DEVICE_SOCKETS_PER_ADDRESS=PASSTHROUGH_UNLIMITED,
            RPS_DEVICE_CONNECTIONS_PER_MINUTE=PASSTHROUGH_UNLIMITED,
        )
    try:
        certificate, key = make_self_signed_certificate(state / "tls")
        haproxy_pem = state / "tls" / "haproxy.pem"
        haproxy_pem.write_bytes(certificate.read_bytes() + key.read_bytes())
        haproxy_pem.chmod(0o600)

        if args.redis_url:
            redis_url = args.redis_url
        else:
            redis_port = free_port()
            (state / "redis").mkdir()
            redis_command = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
            redis_command += ["--appendonly", "no", "--dir", str(state / "redis")]
            cluster["processes"]["redis"] = start_process(redis_command, log=state / "logs" / "redis.log")
            wait_until("redis", lambda: port_listening(redis_port), pid=cluster["processes"]["redis"])
            redis_url = f"redis://127.0.0.1:{redis_port}/0"

        vault = start_dev_vault(log_path=state / "logs" / "openbao.log", detached=True)
        cluster["processes"]["openbao"] = vault.process.pid
        vault_token = vault.rps_token()

        if args.database_url:
            database_url = args.database_url
        else:
            database = f"rps_cluster_{random_source.token_hex(4)}"
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
            cluster["created_database"] = database
            database_url = f"{PG_SERVER}/{database}"

        environment = local_server_environment(
            vault_addr=vault.addr,
            vault_token=vault_token,
            database_url=database_url,
            **{
                "RPS_REDIS_URL": redis_url,
                "RPS_DRAIN_NOTICE": DRAIN_NOTICE,
                **({} if args.tls_at == "worker" else {"RPS_TRUST_PROXY_SSL_HEADER": "true"}),
                **overrides,
            },
        )
        try:
            run_manage(environment, "migrate", "--noinput", "-v", "0")
            token = run_manage(environment, "rps_token")
        except subprocess.CalledProcessError as step:
            # e.g. a worker setting the settings refuse: its one-line cause, not a traceback of ours
            cause = (str(step.stderr).strip().splitlines() or ["no message"])[-1]
            raise ClusterError(f"manage.py {step.cmd[2]} failed: {cause}") from None
        (state / "token").write_text(token + "\n")
        (state / "token").chmod(0o600)
        rps_environment = {key: value for key, value in environment.items() if key.startswith("RPS_")}
        (state / "worker.env.json").write_text(
            json.dumps({**rps_environment, "DJANGO_SETTINGS_MODULE": "rps_site.settings"})
        )
        (state / "worker.env.json").chmod(0o600)
        cluster.update(
            redis_url=redis_url,
            vault_addr=vault.addr,
            vault_root_token=vault.root_token,
            database_url=database_url,
            jwt_secret=environment["RPS_JWT_SECRET"],
        )
        save(cluster, state)

        for _ in range(args.workers):
            port = free_port()
            cluster["workers"].append({"port": port, "pid": spawn_worker(cluster, state, port)})
        save(cluster, state)
        for worker in cluster["workers"]:
            wait_for_worker(cluster, state, worker["port"], worker["pid"])

        config = render_haproxy_config(cluster, state)
        checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if checked.returncode != 0:
            raise ClusterError(f"HAProxy refused its configuration:\n{checked.stdout}{checked.stderr}")
        cluster["processes"]["haproxy"] = start_process(
            ["haproxy", "-db", "-f", str(config)], log=state / "logs" / "haproxy.log"
        )
        save(cluster, state)
        wait_until(
            "HAProxy with every worker up",
            lambda: (state / "haproxy.sock").exists() and set(haproxy_server_states(state).values()) == {"UP"},
            pid=cluster["processes"]["haproxy"],
            log=state / "logs" / "haproxy.log",
        )
    except BaseException:
        down_cluster(cluster, state)
        raise
    return describe(cluster, state)


def describe(cluster: dict[str, Any], state: Path) -> dict[str, Any]:
    base = f"127.0.0.1:{cluster['port']}"
    worker_scheme = "https" if cluster["tls_at"] == "worker" else "http"
    return {
        "state": str(state),
        "https": f"https://{base}",
        "wss": f"wss://{base}/activate",
        "ca_file": str(state / "tls" / "cert.pem"),
        "token_file": str(state / "token"),
        "workers": [
            {"url": f"{worker_scheme}://127.0.0.1:{worker['port']}", "port": worker["port"], "pid": worker["pid"]}
            for worker in cluster["workers"]
        ],
        "draining": cluster.get("draining", []),
        "haproxy_pid": cluster["processes"].get("haproxy"),
        "redis_url": cluster.get("redis_url"),
        "vault_addr": cluster.get("vault_addr"),
        "database_url": cluster.get("database_url"),
        "tls_at": cluster["tls_at"],
    }


def print_description(description: dict[str, Any]) -> None:
    print(f"rps cluster ({description['state']}), TLS at the {description['tls_at']}:")
    print(f"  API and portal   {description['https']}/api/v1/admin/   {description['https']}/admin/")
    print(f"  devices          {description['wss']}")
    print(f"  CA certificate   {description['ca_file']}")
    print(f"  bearer token     {description['token_file']}")
    for worker in description["workers"]:
        print(f"  worker           {worker['url']}  (pid {worker['pid']})")
    for pid in description["draining"]:
        print(f"  draining worker  pid {pid}")
    print(f"  Redis            {description['redis_url']}")
    print(f"  OpenBao          {description['vault_addr']}")
    print(f"  PostgreSQL       {description['database_url']}")


def status(args: argparse.Namespace) -> int:
    cluster = load(args.state)
    cluster["draining"] = [pid for pid in cluster.get("draining", []) if alive(pid)]
    save(cluster, args.state)
    description = describe(cluster, args.state)
    if args.json:
        print(json.dumps(description, indent=2))
    else:
        print_description(description)
    healthy = all(alive(pid) for pid in all_pids(cluster) if pid not in cluster["draining"])
    try:
        states = haproxy_server_states(args.state)
    except OSError:
        states = {}
    if not args.json:
        for name, server_state in sorted(states.items()):
            print(f"  HAProxy: {name} {server_state}")
    return 0 if healthy and states and set(states.values()) == {"UP"} else 1


def restart(args: argparse.Namespace) -> int:
    """A rolling restart: each worker drained and replaced in turn."""
    state: Path = args.state
    cluster = load(state)
    for worker in cluster["workers"]:
        if args.only and worker["port"] != args.only:
            continue
        old, port = worker["pid"], worker["port"]
        if alive(old):
            print(f"worker {port}: SIGTERM to pid {old}", flush=True)
            os.kill(old, signal.SIGTERM)
            cluster["draining"].append(old)
            save(cluster, state)
            wait_until(f"worker {port} to stop listening", lambda port=port: not port_listening(port))
        else:
            print(f"worker {port}: pid {old} had exited", flush=True)
        worker["pid"] = spawn_worker(cluster, state, port)
        save(cluster, state)
        wait_for_worker(cluster, state, port, worker["pid"])
        wait_until(
            f"HAProxy to count worker {port} up", lambda port=port: haproxy_server_states(state).get(f"w{port}") == "UP"
        )
        print(f"worker {port}: pid {worker['pid']} serving", flush=True)
    if args.wait:
        for pid in cluster["draining"]:
            wait_until(f"draining worker {pid} to exit", lambda pid=pid: not alive(pid), seconds=args.wait)
        cluster["draining"] = []
        save(cluster, state)
    return 0


def down_cluster(cluster: dict[str, Any], state: Path) -> None:
    for worker in cluster["workers"]:
        if worker["pid"]:
            stop_process(worker["pid"], signum=signal.SIGINT)  # at once: no drain
    for pid in cluster.get("draining", []):
        stop_process(pid, signum=signal.SIGINT)
    for name in ("haproxy", "openbao", "redis"):
        if cluster["processes"].get(name):
            stop_process(cluster["processes"][name])
    if cluster.get("created_database"):
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", cluster["created_database"]],
            check=False,
            capture_output=True,
        )
    # The logs stay for a look; the keys, token and settings go.
    for leftover in state.iterdir() if state.exists() else ():
        if leftover.name != "logs":
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "restart"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state directory (default var/cluster)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="HAProxy's port (default: a free one)")
    parser.add_argument("--tls-at", choices=["proxy", "worker"], default="proxy")
    parser.add_argument("--env", action="append", default=[], metavar="RPS_NAME=value", help="a worker setting")
    parser.add_argument("--asgi", default=ASGI_APPLICATION, help="the workers' ASGI application")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--database-url", help="use this database instead of creating one")
    parser.add_argument("--only", type=int, default=0, metavar="PORT", help="restart: only the worker on PORT")
    parser.add_argument("--wait", type=float, default=0, help="restart: wait this long for the old workers to exit")
    parser.add_argument("--json", action="store_true", help="up/status: print the description as JSON")
    args = parser.parse_args()
    args.state = args.state.resolve()
    try:
        if args.command == "up":
            description = up(args)
            if args.json:
                print(json.dumps(description, indent=2))
            else:
                print_description(description)
            return 0
        if args.command == "status":
            return status(args)
        if args.command == "restart":
            return restart(args)
        down_cluster(load(args.state), args.state)
        return 0
    except ClusterError as error:
        print(f"cluster {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
