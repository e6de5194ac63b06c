"""`GET /api/v1/admin/audit`: the caller's tenant's audit trail, newest first, paged with
`$top/$skip/$count` (ODataPagination) and filtered by `resource`, `action`, `name`, `actor`,
`since` and `until` (ISO 8601). Read-only: the trail has no write path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEntry
from audit.selectors import audit_list
from rps_site.api.openapi import endpoint
from rps_site.api.validation import Field, validate
from rps_site.authentication import request_tenant

TEXT_FILTERS = ("resource", "action", "name", "actor")
TIME_FILTERS = ("since", "until")


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "tenantId": entry.tenant_id,
        "actor": entry.actor,
        "via": entry.via,
        "resource": entry.resource,
        "name": entry.name,
        "action": entry.action,
        "fields": entry.fields,
        "secretFields": entry.secret_fields,
        "detail": entry.detail,
        "clientAddress": entry.client_address,
    }


def _moment(value: str) -> bool:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return False
    return parsed is not None and parsed.tzinfo is not None


FILTER_CHAINS = (
    *(Field(name, location="query").optional().is_length(maximum=256) for name in TEXT_FILTERS),
    *(
        Field(name, location="query").optional().check(_moment, f"{name} must be an ISO 8601 time with a zone")
        for name in TIME_FILTERS
    ),
)
PARAMETERS = [
    *(OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY) for name in TEXT_FILTERS),
    *(OpenApiParameter(name, OpenApiTypes.DATETIME, OpenApiParameter.QUERY) for name in TIME_FILTERS),
]


class AuditCollection(GenericAPIView):  # type: ignore[type-arg]
    permission_model = AuditEntry
    queryset = AuditEntry.objects.none()

    @endpoint("audit", summary="The tenant's audit trail, newest first", paged=True, parameters=PARAMETERS)
    def get(self, request: Request) -> Response:
        query = {
            key: request.query_params[key] for key in (*TEXT_FILTERS, *TIME_FILTERS) if key in request.query_params
        }
        validate(FILTER_CHAINS, query)
        since, until = (parse_datetime(query[key]) if key in query else None for key in TIME_FILTERS)
        entries = audit_list(
            tenant_id=request_tenant(request),
            resource=query.get("resource"),
            action=query.get("action"),
            name=query.get("name"),
            actor=query.get("actor"),
            since=since,
            until=until,
        )
        page = self.paginate_queryset(entries)
        return self.get_paginated_response([audit_record(entry) for entry in page or []])
