"""`/api/v1/admin/devices`: the device registry (read-only but for purging a lost device), and what
admins decide about the unauthenticated device channel: moving a device to another tenant,
releasing re-provisioning requests, and the enrollment allow-list (README "What the device
channel trusts")."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest
from devices.selectors import device_history, device_list, enrollment_list, reprovisioning_request_list
from devices.services.admin_actions import (
    device_move,
    device_purge,
    enrollment_add,
    enrollment_remove,
    reprovisioning_release,
)
from rps_site.api.openapi import endpoint, error_responses
from rps_site.api.paging import page_from_query, paged_body
from rps_site.api.validation import Field, Text, js_string, validate
from rps_site.authentication import request_tenant
from rps_site.vault import DEVICE_GUID

MAX_ENROLLMENT_BATCH = 5_000  # about 200 KB of JSON: within RPS_API_MAX_BODY_BYTES' default
GUID_PATTERN = "^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$"


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def device_record(device: Device) -> dict[str, Any]:
    return {
        "guid": device.guid,
        "tenantId": device.tenant_id,  # null: unbound, no activation has succeeded yet
        "hostname": device.hostname,
        "dnsSuffix": device.dns_suffix,
        "amtVersion": device.amt_version,
        "amtBuild": device.amt_build,
        "amtSku": device.amt_sku,
        "controlMode": device.get_control_mode_display(),
        "profileName": device.profile_name,
        "status": device.status,
        "credential": device.credential,
        "activatedAt": iso(device.activated_at),
        "lastSeenAt": iso(device.last_seen_at),
    }


def run_record(run: ProvisioningRun, *, tenant_id: str) -> dict[str, Any]:
    return {
        "action": run.action,
        "profileName": run.profile_name,
        "outcome": run.outcome,
        "statusMessage": run.status_message,
        "failureCause": run.failure_cause,
        "clientAddress": run.client_address,
        # Whether the request named this tenant (another tenant's name is never shown).
        "namedThisTenant": run.claimed_tenant_id == tenant_id,
        "reportedHostname": run.reported_hostname,
        "reportedControlMode": run.reported_control_mode,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "steps": [
            {"name": step.name, "outcome": step.outcome, "detail": step.detail, "recordedAt": iso(step.recorded_at)}
            for step in run.steps.all()
        ],
    }


def reprovisioning_record(request: ReprovisioningRequest) -> dict[str, Any]:
    return {
        "guid": request.device.guid,
        "state": request.state,
        "hostname": request.device.hostname,
        "reportedHostname": request.reported_hostname,
        "profileName": request.profile_name,
        "clientAddress": request.client_address,
        "attempts": request.attempts,
        "firstRequestedAt": iso(request.first_requested_at),
        "lastRequestedAt": iso(request.last_requested_at),
        "releasedAt": iso(request.released_at),
        "releasedBy": request.released_by,
        "releasedSecretVersion": request.released_secret_version,
        "completedAt": iso(request.completed_at),
    }


def enrollment_record(enrolled: EnrolledDevice) -> dict[str, Any]:
    return {
        "guid": enrolled.guid,
        "note": enrolled.note,
        "enrolledBy": enrolled.enrolled_by,
        "enrolledAt": iso(enrolled.enrolled_at),
    }


def caller_name(request: Request) -> str:
    return str(getattr(request.user, "username", "") or request.user)


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
        tenant_id = request_tenant(request)
        history = device_history(tenant_id=tenant_id, guid=guid)
        runs = [run_record(run, tenant_id=tenant_id) for run in history.runs]
        return Response({**device_record(history.device), "runs": runs})

    @endpoint("devices", status=204, summary="Purge a device that can never be deactivated")
    def delete(self, request: Request, guid: str) -> Response:
        device_purge(tenant_id=request_tenant(request), guid=guid)
        return Response(status=204)


MOVE_SHAPES = {"tenantId": Text(max_length=36)}
MOVE_CHAINS = (
    Field("tenantId")
    .exists("tenantId is required")
    .raw(lambda value: isinstance(value, str), "tenantId must be a string")
    .is_length(maximum=36, message="tenantId must be at most 36 characters"),
)


class DeviceMove(APIView):
    permission_model = Device
    permission_actions = {"POST": "change"}

    @endpoint(
        "devices",
        body=MOVE_SHAPES,
        example={"tenantId": "acme"},
        summary="Move a device to another tenant (its MPS record follows; its secret stays)",
    )
    def post(self, request: Request, guid: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        validate(MOVE_CHAINS, body, shapes=MOVE_SHAPES)
        device = device_move(tenant_id=request_tenant(request), guid=guid, target_tenant_id=body["tenantId"])
        return Response(device_record(device))


STATE_PARAMETER = OpenApiParameter(
    "state", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=ReprovisioningRequest.State.values
)


class ReprovisioningRequestCollection(APIView):
    permission_model = ReprovisioningRequest

    @endpoint("devices", summary="List re-provisioning requests", paged=True, parameters=[STATE_PARAMETER])
    def get(self, request: Request) -> Response:
        page = page_from_query(request.query_params)
        state = request.query_params.get("state") or None
        validate(
            (Field("state", location="query").optional().is_in(ReprovisioningRequest.State.values),),
            {"state": state} if state is not None else {},
        )
        requests = reprovisioning_request_list(tenant_id=request_tenant(request), state=state)
        items = [reprovisioning_record(item) for item in requests[page.skip : page.stop]]
        return Response(paged_body(page, items, requests.count))


class DeviceRelease(APIView):
    permission_model = ReprovisioningRequest
    permission_actions = {"POST": "change"}

    @endpoint(
        "devices",
        summary="Release a device's re-provisioning request (its next activation may replace the stored secret)",
    )
    def post(self, request: Request, guid: str) -> Response:
        released = reprovisioning_release(
            tenant_id=request_tenant(request), guid=guid, released_by=caller_name(request)
        )
        return Response(reprovisioning_record(released))


def _canonical_guid(value: Any) -> bool:
    return isinstance(value, str) and DEVICE_GUID.match(value.lower()) is not None


class EnrollmentCollection(APIView):
    permission_model = EnrolledDevice

    @endpoint("devices", summary="List the GUIDs enrolled in this tenant", paged=True)
    def get(self, request: Request) -> Response:
        page = page_from_query(request.query_params)
        enrolled = enrollment_list(tenant_id=request_tenant(request))
        items = [enrollment_record(item) for item in enrolled[page.skip : page.stop]]
        return Response(paged_body(page, items, enrolled.count))

    @extend_schema(
        tags=["devices"],
        summary="Enroll GUIDs in this tenant: a JSON list of GUIDs",
        request={
            "application/json": {
                "type": "array",
                "maxItems": MAX_ENROLLMENT_BATCH,
                "items": {"type": "string", "pattern": GUID_PATTERN},
                "example": ["4c4c4544-0046-3610-8052-b5c04f4c5032"],
            }
        },
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, **error_responses((400, 401, 403, 413, 503))},
    )
    def post(self, request: Request) -> Response:
        guids = request.data
        errors: list[dict[str, Any]] = []
        if not isinstance(guids, list):
            errors.append(
                {"type": "field", "msg": "The body must be a JSON list of GUIDs", "path": "", "location": "body"}
            )
        elif len(guids) > MAX_ENROLLMENT_BATCH:
            errors.append(
                {
                    "type": "field",
                    "msg": f"At most {MAX_ENROLLMENT_BATCH} GUIDs at once",
                    "path": "",
                    "location": "body",
                }
            )
        else:
            errors = [
                {
                    "type": "field",
                    # Echoed only when short and plain, as the API's other validation errors.
                    **(
                        {"value": value}
                        if isinstance(value, str | int | float) and len(js_string(value)) <= 256
                        else {}
                    ),
                    "msg": "Not a GUID (8-4-4-4-12 hexadecimal)",
                    "path": f"[{index}]",
                    "location": "body",
                }
                for index, value in enumerate(guids)
                if not _canonical_guid(value)
            ]
        if errors:
            return Response({"errors": errors}, status=400)
        added, already = enrollment_add(
            tenant_id=request_tenant(request), guids=[guid.lower() for guid in guids], enrolled_by=caller_name(request)
        )
        return Response({"added": added, "alreadyEnrolled": already}, status=201 if added else 200)


class EnrollmentItem(APIView):
    permission_model = EnrolledDevice

    @endpoint("devices", status=204, summary="Remove a GUID from this tenant's enrollment")
    def delete(self, request: Request, guid: str) -> Response:
        enrollment_remove(tenant_id=request_tenant(request), guid=guid)
        return Response(status=204)
