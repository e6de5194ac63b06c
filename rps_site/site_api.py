"""The site-level endpoints: admin root, health and version (no authentication, as upstream)."""

from __future__ import annotations

from django.db import DatabaseError, connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from rps_site.vault import secret_store

SERVICE_VERSION = "2.40.0"
PROTOCOL_VERSION = "4.0.0"


@extend_schema(responses=OpenApiTypes.OBJECT, summary="The admin API's root")
@api_view(["GET", "HEAD"])
def admin_root(request: Request) -> Response:
    return Response({"message": "admin path. use admin/profiles"})


@extend_schema(responses=OpenApiTypes.OBJECT, summary="Service and protocol versions (no authentication)")
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
def version(request: Request) -> Response:
    return Response({"serviceVersion": SERVICE_VERSION, "protocolVersion": PROTOCOL_VERSION})


def database_status() -> str:
    """`OK`, or `unreachable` (refused, timed out, or refusing our credentials)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return "OK"


@extend_schema(
    responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
    summary="Database and secret store status (no authentication)",
    description=(
        "200 when both work. Otherwise 503, and each failing part's `status` names the cause: "
        "`db.status` is `unreachable`; `secretStore.status` is `unreachable`, "
        "`not initialized`, `sealed`, `forbidden token` or `token lacks capabilities` instead of "
        "Vault's status object. Statuses only: no versions, addresses or paths."
    ),
)
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
def health(request: Request) -> Response:
    db_status = database_status()
    vault_status = secret_store().health()
    healthy = db_status == "OK" and isinstance(vault_status, dict)
    body = {
        "db": {
            "name": "POSTGRES" if connection.vendor == "postgresql" else connection.vendor.upper(),
            "status": db_status,
        },
        "secretStore": {"name": "VAULT", "status": vault_status},
    }
    return Response(body, status=200 if healthy else 503)
