"""Portal dashboard benchmark: its queries and the whole page with 10,000 devices and 100,000 runs.

    .venv/bin/python bench/dashboard_bench.py [--devices 10000] [--runs 100000] [--tenants 2] [--repeat 30]

Creates a fresh PostgreSQL database (RPS_BENCH_DATABASE_SERVER, default the local server),
migrates it and seeds `--tenants` tenants, each with `--devices` devices and `--runs` runs over 90
days (tests/portal/fleet.py: about 6 % failed, each with its failing step), so a tenant filter
has other tenants' rows to skip. Then, in this process, it times each dashboard query and the
whole dashboard page (Django's test client, a logged-in user of the first tenant; the health
panel is a separate request and not part of the page), first with the schema as migrated and
then with the dashboard's indexes dropped, and prints a Markdown table with each query's plan.
The database is dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("RPS_BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
# The indexes devices/migrations/0005 adds for the dashboard; dropped for the second measurement.
DASHBOARD_INDEXES = {
    "device_tenant_state": "devices_device (tenant_id, control_mode, status)",
    "run_tenant_action_started": "devices_provisioningrun (tenant_id, action, started_at) INCLUDE (outcome)",
    "run_tenant_failures_latest": (
        "devices_provisioningrun (tenant_id, started_at DESC, id DESC) WHERE outcome = 'failure'"
    ),
}


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and 95th percentile wall time in ms, after one warm-up call."""
    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def plan_summary(sql: str) -> str:
    """The plan's scan nodes and total execution time, from EXPLAIN ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        lines = [row[0] for row in cursor.fetchall()]
    scans = []
    for line in lines:
        text = line.strip().removeprefix("->").strip()
        if " Scan " in f" {text} " and " on " in text:
            node = text.split("  ")[0]
            if node not in scans:
                scans.append(node)
    execution = next((line.split(":")[1].strip() for line in lines if line.startswith("Execution Time")), "?")
    return f"{'; '.join(scans)} ({execution})"


def captured_sql(call: Callable[[], Any]) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return [query["sql"] for query in captured.captured_queries]


def measure(tenant_id: str, client: Any, repeat: int) -> list[tuple[str, float, float, str]]:
    from django.utils import timezone

    from devices.selectors import device_state_counts, run_failures_latest, run_outcome_counts
    from portal.dashboard import ACTIVATE
    from profiles.selectors.domains import CERTIFICATE_WARNING, domain_certificates_expiring

    now = timezone.now()
    queries: dict[str, Callable[[], Any]] = {
        "devices by control mode and status": lambda: device_state_counts(tenant_id=tenant_id),
        "activations, 24 h and 7 days": lambda: run_outcome_counts(
            tenant_id=tenant_id,
            action=ACTIVATE,
            since={"day": now - timedelta(days=1), "week": now - timedelta(days=7)},
        ),
        "latest 8 failures with their step": lambda: run_failures_latest(tenant_id=tenant_id, limit=8),
        "certificates expiring": lambda: domain_certificates_expiring(
            tenant_id=tenant_id, before=now + CERTIFICATE_WARNING
        ),
    }
    rows = []
    for name, call in queries.items():
        median, p95 = timed(call, repeat)
        rows.append((name, median, p95, " / ".join(plan_summary(sql) for sql in captured_sql(call))))

    def page() -> None:
        response = client.get("/admin/")
        assert response.status_code == 200, response.status_code

    median, p95 = timed(page, repeat)
    rows.append((f"whole page (GET /admin/, {len(captured_sql(page))} queries)", median, p95, ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    arguments = parser.parse_args()

    database = f"rps_bench_dashboard_{secrets.token_hex(4)}"
    host = SERVER.split("@")[-1].split(":")[0]
    subprocess.run(["createdb", "-h", host, "-U", "postgres", database], check=True)
    os.environ["RPS_DATABASE_URL"] = f"{SERVER}/{database}"
    os.environ["RPS_DB_POOL"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rps_site.settings_test")
    try:
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from rps_site.models import TenantMembership
        from tests.portal.fleet import seed_fleet

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        tenants = [f"tenant{index}" for index in range(arguments.tenants)]
        for index, tenant_id in enumerate(tenants):
            seed_fleet(tenant_id=tenant_id, devices=arguments.devices, runs=arguments.runs, days=90, seed=index)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        seeded = time.perf_counter() - started
        user = User.objects.create_user("bench", password="unused-Pw1!x", is_staff=True, is_superuser=True)
        TenantMembership.objects.create(user=user, tenant_id=tenants[0])
        client = Client()
        client.force_login(user)

        as_migrated = measure(tenants[0], client, arguments.repeat)
        with connection.cursor() as cursor:
            for name in DASHBOARD_INDEXES:
                cursor.execute(f"DROP INDEX {name}")
            cursor.execute("VACUUM ANALYZE")
        unindexed = measure(tenants[0], client, arguments.repeat)

        print(
            f"\n{arguments.tenants} tenant(s) x {arguments.devices:,} devices and {arguments.runs:,} runs "
            f"(seeded in {seeded:.0f} s); {arguments.repeat} timed calls each, after a warm-up\n"
        )
        print("| read | as migrated: median / p95 ms | without the dashboard indexes: median / p95 ms |")
        print("|---|---:|---:|")
        for (name, median, p95, _), (_, bare_median, bare_p95, _) in zip(as_migrated, unindexed, strict=True):
            print(f"| {name} | {median:.1f} / {p95:.1f} | {bare_median:.1f} / {bare_p95:.1f} |")
        print("\nPlans (scan nodes, execution time), as migrated:")
        for name, _, _, plan in as_migrated[:-1]:
            print(f"- {name}: {plan}")
        print("\nPlans without the dashboard indexes:")
        for name, _, _, plan in unindexed[:-1]:
            print(f"- {name}: {plan}")
        print("\nDashboard indexes (devices/migrations/0005):")
        for index in DASHBOARD_INDEXES.values():
            print(f"- {index}")
    finally:
        if not arguments.keep:
            from django.db import connections

            connections.close_all()
            subprocess.run(["dropdb", "-h", host, "-U", "postgres", "--if-exists", "--force", database], check=False)
        else:
            print(f"kept database {database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
