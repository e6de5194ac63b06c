"""REST endpoints for AMT profiles (rest-api.md §2.3): `/api/v1/admin/profiles[/<name>]` and
`/api/v1/admin/profiles/export/<name>?domainName=`.

The views parse, validate (profiles_validation), call one service and answer the record
without secrets. Export is not a plain read: it needs the `profiles.export_profile` permission
(or, if `RPS_EXPORT_VIA_JWT` is on, a bearer token), is throttled and recorded, and is never
cached.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.urls import URLPattern, re_path
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from profiles.api.common import json_body, schema
from profiles.api.profiles_validation import BODY, validated_create, validated_update
from profiles.models import Profile
from profiles.selectors.profiles import (
    profile_list_body,
    profile_record_body,
    profile_record_by_id,
    profile_record_of_unlinked,
)
from profiles.services.profile_export import profile_export
from profiles.services.profiles import profile_create, profile_delete, profile_update
from rps_site.api.paging import page_from_query
from rps_site.api.rendered_cache import JSON_CONTENT_TYPE
from rps_site.api_errors import ResourceNotFound
from rps_site.authentication import TokenUser, request_tenant
from rps_site.permissions import portal_user_may

EXPORT_PERMISSION = "profiles.export_profile"
EXPORT_DOMAIN = OpenApiParameter(
    "domainName", str, OpenApiParameter.QUERY, description="the domain whose PFX to include (ACM)"
)


def _created_or_updated(tenant_id: str, profile_id: int, status: int) -> Response:
    return Response(profile_record_by_id(tenant_id=tenant_id, profile_id=profile_id), status=status)


# A body the API accepts, published in the OpenAPI document.
EXAMPLE = {
    "profileName": "ccm1",
    "activation": "ccmactivate",
    "generateRandomPassword": True,
    "generateRandomMEBxPassword": False,
    "dhcpEnabled": True,
    "tlsMode": 1,
    "tags": ["lab"],
}


class ProfileCollection(APIView):
    permission_model = Profile

    @schema("profiles", operation_id="profiles_list", paged=True)
    def get(self, request: Request) -> HttpResponse:
        page = page_from_query(request.query_params)
        body = profile_list_body(tenant_id=request_tenant(request), page=page)
        return HttpResponse(body, content_type=JSON_CONTENT_TYPE)

    @schema("profiles", status=201, body=BODY, example=EXAMPLE)
    def post(self, request: Request) -> Response:
        tenant_id = request_tenant(request)
        data = validated_create(json_body(request), tenant_id=tenant_id)
        profile = profile_create(tenant_id=tenant_id, data=data)
        if not data.get("wifi_configs") and not data.get("proxy_configs"):
            return Response(profile_record_of_unlinked(profile), status=201)
        return _created_or_updated(tenant_id, profile.pk, 201)

    @schema("profiles", body=BODY)
    def patch(self, request: Request) -> Response:
        tenant_id = request_tenant(request)
        body = json_body(request)
        data = validated_update(body, tenant_id=tenant_id)
        # Upstream's If-Match middleware replaces the body's version after validation.
        version = request.META.get("HTTP_IF_MATCH", body.get("version"))
        profile = profile_update(tenant_id=tenant_id, data=data, version=version)
        return _created_or_updated(tenant_id, profile.pk, 200)


class ProfileItem(APIView):
    permission_model = Profile

    @schema("profiles")
    def get(self, request: Request, name: str) -> HttpResponse:
        body = profile_record_body(tenant_id=request_tenant(request), name=name)
        if body is None:
            raise ResourceNotFound(f"AMT profile {name} Not Found")
        return HttpResponse(body, content_type=JSON_CONTENT_TYPE)

    @schema("profiles", status=204)
    def delete(self, request: Request, name: str) -> Response:
        profile_delete(tenant_id=request_tenant(request), name=name)
        return Response(status=204)


class CanExportProfiles(BasePermission):
    """Portal users need `profiles.export_profile`; bearer callers only if export via JWT is on."""

    message = "Exporting a profile requires the export_profile permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, TokenUser):
            return bool(settings.EXPORT_VIA_JWT)
        return bool(user is not None and user.is_authenticated and portal_user_may(user, [EXPORT_PERMISSION]))


class ProfileExportThrottle(ScopedRateThrottle):
    """Per caller: a bearer token has no user row, so its tenant and subject name the bucket."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if isinstance(user, TokenUser):
            return self.cache_format % {"scope": self.scope, "ident": f"bearer:{user.tenant_id}:{user.subject}"}
        return super().get_cache_key(request, view)


def _actor(request: Request) -> str:
    user = request.user
    if isinstance(user, TokenUser):
        return str(user)
    return str(user.get_username())


class ProfileExport(APIView):
    permission_classes = [IsAuthenticated, CanExportProfiles]
    throttle_classes = [ProfileExportThrottle]
    throttle_scope = "profile_export"

    @schema("profiles", errors=(401, 403, 404, 429, 503), parameters=[EXPORT_DOMAIN])
    def get(self, request: Request, name: str) -> Response:
        domain_name = request.query_params.get("domainName") or None
        exported = profile_export(
            tenant_id=request_tenant(request), name=name, domain_name=domain_name, actor=_actor(request)
        )
        return Response(exported.as_dict(), headers={"Cache-Control": "no-store"})


urlpatterns: list[URLPattern] = [
    re_path(r"^profiles/?$", ProfileCollection.as_view(), name="profiles"),
    re_path(r"^profiles/export/(?P<name>[\s\S]+?)/?$", ProfileExport.as_view(), name="profile-export"),
    # Upstream's name rule admits `/`; such a name is reachable percent-encoded.
    re_path(r"^profiles/(?P<name>[\s\S]+?)/?$", ProfileItem.as_view(), name="profile"),
]
