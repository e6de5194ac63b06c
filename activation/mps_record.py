"""The device record RPS registers with MPS after an activation (protocol.md §4.5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activation.plan.activation_plan import ActivationPlan
from activation.protocol.messages import (
    DeviceRequest,
)
from activation.protocol.status import ActivationStatus, ComponentResult


def mps_device_record(
    plan: ActivationPlan, request: DeviceRequest, *, tags: list[str], status: ActivationStatus | None = None
) -> dict[str, Any]:
    """The MPS registration body of §4.5 (no `mpsusername` key at all: correction 11). With the
    final `status`, it also carries the components' outcomes and the provisioning times."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload = request.payload
    record: dict[str, Any] = {
        "guid": request.device_guid,
        "hostname": payload.hostname,
        "tags": tags,
        "tenantId": plan.tenant_id,
        "dnsSuffix": payload.fqdn,
        "deviceInfo": {
            "fwVersion": payload.ver,
            "fwBuild": payload.build,
            "fwSku": payload.sku,
            "currentMode": str(int(payload.current_mode)),
            "features": payload.features,
            "ipAddress": payload.ip_configuration.ip_address if payload.ip_configuration else "",
            "lastUpdated": now,
        },
    }
    if payload.friendly_name:
        record["friendlyName"] = payload.friendly_name
    if status is not None:
        record["deviceInfo"]["status"] = {
            component.value: outcome.as_json()
            for component, outcome in status.components.items()
            if outcome.result is not ComponentResult.NOT_APPLICABLE
        }
        # MPS keeps the first activatedAt it is given (write-once) and updates the rest.
        record["deviceInfo"]["activatedAt"] = now
        record["deviceInfo"]["lastProvisionedAt"] = now
    return record
