"""`/api/v1/admin/devices`: the device registry, read-only but for purging a lost device."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.models import Device, ProvisioningRun
from devices.selectors import device_get, device_list
from devices.services import device_purge
from rps_site.api.openapi import endpoint
from rps_site.api.paging import page_from_query, paged_body
from rps_site.authentication import request_tenant


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def device_record(device: Device) -> dict[str, Any]:
    return {
        "guid": device.guid,
        "tenantId": device.tenant_id,
        "hostname": device.hostname,
        "dnsSuffix": device.dns_suffix,
        "amtVersion": device.amt_version,
        "amtBuild": device.amt_build,
        "amtSku": device.amt_sku,
        "controlMode": device.get_control_mode_display(),
        "profileName": device.profile_name,
        "status": device.status,
        "activatedAt": iso(device.activated_at),
        "lastSeenAt": iso(device.last_seen_at),
    }


def run_record(run: ProvisioningRun) -> dict[str, Any]:
    return {
        "action": run.action,
        "profileName": run.profile_name,
        "outcome": run.outcome,
        "statusMessage": run.status_message,
        "failureCause": run.failure_cause,
        "clientAddress": run.client_address,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "steps": [
            {"name": step.name, "outcome": step.outcome, "detail": step.detail, "recordedAt": iso(step.recorded_at)}
            for step in run.steps.all()
        ],
    }


class DeviceCollection(APIView):
    permission_model = Device

    @endpoint("devices", summary="List devices", operation_id="devices_list", paged=True)
    def get(self, request: Request) -> Response:
        page = page_from_query(request.query_params)
        devices = device_list(tenant_id=request_tenant(request))
        items = [device_record(device) for device in devices[page.skip : page.stop]]
        return Response(paged_body(page, items, devices.count))


class DeviceItem(APIView):
    permission_model = Device

    @endpoint("devices", summary="One device with its provisioning history")
    def get(self, request: Request, guid: str) -> Response:
        device = device_get(tenant_id=request_tenant(request), guid=guid)
        return Response({**device_record(device), "runs": [run_record(run) for run in device.runs.all()]})

    @endpoint("devices", status=204, summary="Purge a device that can never be deactivated")
    def delete(self, request: Request, guid: str) -> Response:
        device_purge(tenant_id=request_tenant(request), guid=guid)
        return Response(status=204)
