"""Reads about devices, always scoped to one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from devices.models import Device
from rps_site.api_errors import ResourceNotFound


def device_list(*, tenant_id: str) -> QuerySet[Device]:
    return Device.objects.filter(tenant_id=tenant_id).order_by("-last_seen_at", "guid")


def device_get(*, tenant_id: str, guid: str) -> Device:
    device = Device.objects.filter(tenant_id=tenant_id, guid=guid.lower()).prefetch_related("runs__steps").first()
    if device is None:
        raise ResourceNotFound(f"Device {guid} Not Found")
    return device
