"""What RPS tells MPS about a device: the record it registers after an activation (protocol.md
§4.5) and the `deviceInfo` in it, which maintenance's syncdeviceinfo sends alone (§4.12)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activation.plan.activation_plan import ActivationPlan
from activation.protocol.messages import DeviceRequest
from activation.protocol.status import ActivationStatus, ComponentResult


def mps_time(moment: datetime) -> str:
    """JavaScript's Date.toJSON(), as upstream sends MPS its times: milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mps_device_info(request: DeviceRequest, *, now: datetime) -> dict[str, Any]:
    """`deviceInfo` from what the client reported (`currentMode` as reported at the session's start)."""
    payload = request.payload
    return {
        "fwVersion": payload.ver,
        "fwBuild": payload.build,
        "fwSku": payload.sku,
        "currentMode": str(int(payload.current_mode)),
        "features": payload.features,
        "ipAddress": payload.ip_configuration.ip_address if payload.ip_configuration is not None else "",
        "lastUpdated": mps_time(now),
    }


def mps_device_record(
    plan: ActivationPlan, request: DeviceRequest, *, tags: list[str], status: ActivationStatus | None = None
) -> dict[str, Any]:
    """The MPS registration body of §4.5 (no `mpsusername` key at all: correction 11). With the
    final `status`, it also carries the components' outcomes and the provisioning times."""
    moment = datetime.now(UTC)
    now = mps_time(moment)
    payload = request.payload
    record: dict[str, Any] = {
        "guid": request.device_guid,
        "hostname": payload.hostname,
        "tags": tags,
        "tenantId": plan.tenant_id,
        "dnsSuffix": payload.fqdn,
        "deviceInfo": mps_device_info(request, now=moment),
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
