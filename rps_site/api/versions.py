"""Record versions: one counter, starting at 1000, on PostgreSQL and SQLite alike.

Upstream exposes PostgreSQL's `xmin`; clients only need a decimal string that changes on every
write and never equals the small stale values the upstream suite probes with (`100`, `123`, `751`).
"""

from __future__ import annotations

from django.db import connection

from rps_site.models import VersionTick

FIRST_VERSION = 1000


def next_version() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('rps_record_version')")
            return int(cursor.fetchone()[0])
    tick = VersionTick.objects.create()
    # The row is only a sequence draw; deleting it keeps the table empty, the sequence moves on.
    VersionTick.objects.filter(pk=tick.pk).delete()
    return FIRST_VERSION - 1 + int(tick.pk)


def parse_version(value: object) -> int | None:
    """A client's version (body or `If-Match`); anything non-numeric matches no record."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and len(text) < 19 else None
