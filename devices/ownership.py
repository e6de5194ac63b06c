"""Which worker owns each run in progress, and what becomes of the runs of a worker that died.

A serving worker (`rps_site.serve`) has an id (host, pid, a random part) and holds, for as long
as it lives, a PostgreSQL session-level advisory lock keyed by that id, on a connection of its
own. Every run it starts records the id (`ProvisioningRun.worker`). The lock is a heartbeat
without a timer: PostgreSQL releases it as soon as the worker's connection ends, whether the
worker exited, was killed (SIGKILL, OOM) or lost its host, and no live worker ever loses it to
another. So a run `in_progress` whose owner's lock is free was orphaned: nothing will end it.

- The device secret claim (`devices.services`) counts such a run as ended at once: a device whose
  activation died with its worker can be activated again straight away, through any worker. What
  the dead run stored is replaceable if it died before recording the write (`secret_written_at`,
  right after the write, right before Setup): it had told the device nothing. After that the
  device may be using it, so only the stored password (the already-activated path) or an
  admin's release gets past it.
- A worker marks the orphaned runs failed, `interrupted` being the first word of the cause,
  when it starts, and every `RPS_ORPHAN_SWEEP_SECONDS` after (a worker scaled down is never
  restarted): no run stays `in_progress` for good.

Runs recorded by a process that holds no lock (one from before this version, a management
command, the test suite's in-process server) have no owner to ask about; for them the claim keeps
the age rule (`devices.services.ABANDONED_RUN_AGE`). Under SQLite (one process by definition)
there is no lock and no sweep.
"""

from __future__ import annotations

import logging
import os
import secrets as random_source
import socket
import threading
from typing import Any, Final

from django.db import connection, transaction
from django.utils import timezone

from devices.models import Device, ProvisioningRun

logger = logging.getLogger(__name__)

# The advisory lock key of a worker id: the same text hashed by PostgreSQL everywhere it is used.
# The prefix keeps worker keys apart from the secret-path keys (rps_site.vault.changes).
LOCK_KEY_SQL: Final = "hashtextextended('rps worker ' || {}, 0)"
HOSTNAME_CHARACTERS: Final = 48
# SQL, true for a run (alias `{0}`) known to have told its device nothing of a secret it stored:
# a worker's run records the write before it may send Setup; a run of no worker (from before
# owners were recorded) may have sent it.
TOLD_THE_DEVICE_NOTHING_SQL: Final = "({0}.worker <> '' AND {0}.secret_written_at IS NULL)"
INTERRUPTED_STATUS: Final = "Interrupted: the server worker handling the session stopped"


class WorkerOwnership:
    """This process's id and the connection that holds its lock (none until `start`)."""

    def __init__(self) -> None:
        self.worker_id = ""
        self._holder: Any = None  # a psycopg connection, held for the life of the process
        self._stopped = threading.Event()

    def start(self, *, sweep_seconds: float) -> int:
        """Take this worker's lock, mark what dead workers left in progress, and sweep again every
        `sweep_seconds` (0: only now). Returns how many runs were marked now."""
        if connection.vendor != "postgresql":
            return 0
        hostname = socket.gethostname()[:HOSTNAME_CHARACTERS]
        self.hold(f"{hostname}:{os.getpid()}:{random_source.token_hex(4)}")
        try:
            marked = orphaned_runs_interrupt(finder=self.worker_id)
        finally:
            connection.close()  # the starting thread's: back to the pool, it serves no request
        if sweep_seconds > 0:
            threading.Thread(target=self._keep, args=(sweep_seconds,), name="rps-orphan-sweep", daemon=True).start()
        return marked

    def stop(self) -> None:
        self._stopped.set()
        if self._holder is not None:
            self._holder.close()

    def hold(self, worker_id: str) -> None:
        """Own the runs recorded under `worker_id` from now on, for as long as this lives."""
        self.worker_id = worker_id
        self._hold_lock()

    def _hold_lock(self) -> None:
        import psycopg

        parameters = connection.get_connection_params()
        # Keepalives: a holder whose peer vanished is noticed by the server within a minute.
        parameters.update(keepalives=1, keepalives_idle=20, keepalives_interval=5, keepalives_count=3)
        holder = psycopg.connect(**parameters, autocommit=True)
        holder.execute(f"SELECT pg_advisory_lock({LOCK_KEY_SQL.format('%s')})", [self.worker_id])
        self._holder = holder

    def _keep(self, sweep_seconds: float) -> None:
        """The lock held again if its connection broke (a database restart), then a sweep."""
        while not self._stopped.wait(sweep_seconds):
            try:
                if self._holder.closed or self._holder.broken:
                    logger.warning("worker %s lost its ownership lock's connection: taking it again", self.worker_id)
                    self._hold_lock()
                else:
                    self._holder.execute("SELECT 1")
                orphaned_runs_interrupt(finder=self.worker_id)
            except Exception:
                logger.exception("orphaned-run sweep failed; next in %g s", sweep_seconds)
            finally:
                connection.close()  # this thread's ORM connection back to the pool


worker = WorkerOwnership()


def orphaned_runs_interrupt(*, finder: str) -> int:
    """Mark failed every run in progress whose owning worker no longer holds its lock, with the
    cause; its device as `run_finish` leaves one after a failed run. Returns how many."""
    if connection.vendor != "postgresql":
        return 0
    runs, devices = ProvisioningRun._meta.db_table, Device._meta.db_table
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT worker FROM {runs} WHERE outcome = %s AND worker <> '' AND worker <> %s",  # noqa: S608
            [ProvisioningRun.Outcome.IN_PROGRESS, finder],
        )
        owners = [row[0] for row in cursor.fetchall()]
        dead = []
        for owner in owners:
            # Taken only if free, and held until this transaction ends: a dead worker's lock.
            cursor.execute(f"SELECT pg_try_advisory_xact_lock({LOCK_KEY_SQL.format('%s')})", [owner])
            if cursor.fetchone()[0]:
                dead.append(owner)
        marked = 0
        for owner in dead:
            cause = f"interrupted: its worker {owner} stopped before the run ended (found by worker {finder})"
            cursor.execute(
                f"UPDATE {runs} SET outcome = %s, finished_at = %s, status_message = %s, failure_cause = %s"  # noqa: S608
                " WHERE outcome = %s AND worker = %s"
                f" RETURNING id, device_id, {TOLD_THE_DEVICE_NOTHING_SQL.format(runs)}",
                [
                    ProvisioningRun.Outcome.FAILURE,
                    now,
                    INTERRUPTED_STATUS,
                    cause,
                    ProvisioningRun.Outcome.IN_PROGRESS,
                    owner,
                ],
            )
            interrupted = cursor.fetchall()
            marked += len(interrupted)
            _devices_after_interrupted_runs(cursor, devices, interrupted)
            logger.warning("%d runs of worker %s marked interrupted: the worker is gone", len(interrupted), owner)
    return marked


def _devices_after_interrupted_runs(cursor: Any, devices: str, interrupted: list[tuple[int, int, bool]]) -> None:
    """What `run_finish` does for a failed run: a device first seen in it shows `failed`, and a
    secret the run stored under its claim is replaceable, but only if the run died before recording
    the write (after that it may have sent Setup: the secret stays in use until verified). Only a secret
    of no other record: a released one stays released."""
    if not interrupted:
        return
    cursor.execute(
        f"UPDATE {devices} SET status = %s WHERE id = ANY(%s) AND status = %s",  # noqa: S608
        [Device.Status.FAILED, [device_id for _, device_id, _ in interrupted], Device.Status.IN_PROGRESS],
    )
    cursor.execute(
        f"UPDATE {devices} SET credential = %s WHERE credential_run_id = ANY(%s) AND credential = %s",  # noqa: S608
        [
            Device.Credential.UNCONFIRMED,
            [run_id for run_id, _, before_setup in interrupted if before_setup],
            Device.Credential.UNKNOWN,
        ],
    )


def record_secret_written(run: ProvisioningRun) -> None:
    """`run` wrote the device's secret as a first use: from now on it may tell the device (Setup
    follows at once), so should its worker die, the device may be using it. Dying before this,
    it told the device nothing. Raw SQL: once per activation, without the ORM's compiling."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ProvisioningRun._meta.db_table} SET secret_written_at = %s WHERE id = %s",  # noqa: S608
            [timezone.now(), run.pk],
        )


def may_be_running_sql(run_alias: str) -> str:
    """SQL, true while the run in progress `run_alias` may still be running: its worker holds its
    lock. An unowned run (and any under SQLite): while it is younger than the one parameter this
    takes, `devices.services.ABANDONED_RUN_AGE` ago."""
    if connection.vendor != "postgresql":
        return f"{run_alias}.started_at > %s"
    return (
        f"CASE WHEN {run_alias}.worker = '' THEN {run_alias}.started_at > %s"
        f" ELSE NOT pg_try_advisory_xact_lock({LOCK_KEY_SQL.format(run_alias + '.worker')}) END"
    )
