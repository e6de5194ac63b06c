"""REST endpoints for AMT profiles (rest-api.md §2.3): `/api/v1/admin/profiles[/<name>]` and
`/api/v1/admin/profiles/export/<name>?domainName=`.

The views (profiles.api.resource) validate (profiles_validation), make the service input
(profile_input), call one service and answer the record without secrets. Export is not a plain
read: it needs the `profiles.export_profile` permission (or, if `RPS_EXPORT_VIA_JWT` is on, a
bearer token), is throttled and recorded, and is never cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.urls import URLPattern, re_path
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from events.rest import publish_export_failure
from profiles.api.profile_input import validated_create, validated_update
from profiles.api.profiles_validation import BODY
from profiles.api.resource import TenantResource, row_of
from profiles.models import Profile
from profiles.selectors.profiles import profile_links
from profiles.services.profile_export import profile_export
from profiles.services.profiles import profile_create, profile_delete, profile_not_found, profile_update
from rps_site.api.openapi import endpoint as schema
from rps_site.authentication import TokenUser, request_tenant
from rps_site.permissions import portal_user_may

EXPORT_PERMISSION = "profiles.export_profile"
EXPORT_DOMAIN = OpenApiParameter(
    "domainName", str, OpenApiParameter.QUERY, description="the domain whose PFX to include (ACM)"
)
COLUMNS = (
    "id",
    "name",
    "activation",
    "cira_config__name",
    "generate_random_password",
    "generate_random_mebx_password",
    "tags",
    "dhcp_enabled",
    "tls_mode",
    "user_consent",
    "ider_enabled",
    "kvm_enabled",
    "sol_enabled",
    "tenant_id",
    "tls_signing_authority",
    "version",
    "ieee8021x_config__name",
    "ip_sync_enabled",
    "local_wifi_sync_enabled",
    "uefi_wifi_sync_enabled",
)

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


def profile_record(row: Mapping[str, Any], wifi: list[dict[str, Any]], proxy: list[dict[str, Any]]) -> dict[str, Any]:
    """A profile as upstream answers it, in its key order (no secrets)."""
    return {
        "profileName": row["name"],
        "activation": row["activation"],
        "ciraConfigName": row["cira_config__name"],
        "generateRandomPassword": row["generate_random_password"],
        "generateRandomMEBxPassword": row["generate_random_mebx_password"],
        "tags": row["tags"],
        "dhcpEnabled": row["dhcp_enabled"],
        "tlsMode": row["tls_mode"],
        "userConsent": row["user_consent"],
        "iderEnabled": row["ider_enabled"],
        "kvmEnabled": row["kvm_enabled"],
        "solEnabled": row["sol_enabled"],
        "tenantId": row["tenant_id"],
        "tlsSigningAuthority": row["tls_signing_authority"],
        "version": str(row["version"]),
        "ieee8021xProfileName": row["ieee8021x_config__name"],
        "wifiConfigs": wifi,
        "ipSyncEnabled": row["ip_sync_enabled"],
        "localWifiSyncEnabled": row["local_wifi_sync_enabled"],
        "uefiWifiSyncEnabled": row["uefi_wifi_sync_enabled"],
        "proxyConfigs": proxy,
    }


class Profiles(TenantResource):
    route = "profiles"
    model = Profile
    columns = COLUMNS
    not_found = staticmethod(profile_not_found)
    body_shapes, example = BODY, EXAMPLE
    create_service = staticmethod(profile_create)
    update_service = staticmethod(profile_update)
    delete_service = staticmethod(profile_delete)
    if_match_sets_version = True
    name_pattern = r"[\s\S]+?"  # upstream's name rule admits `/`; such a name is reachable percent-encoded

    def create_input(self, body: dict[str, Any]) -> dict[str, Any]:
        return validated_create(body, tenant_id=self.tenant_id)

    def update_input(self, body: dict[str, Any]) -> dict[str, Any]:
        return validated_update(body, tenant_id=self.tenant_id)

    def records(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        wifi, proxy = profile_links(profile_ids=[row["id"] for row in rows])
        return [profile_record(row, wifi.get(row["id"], []), proxy.get(row["id"], [])) for row in rows]

    def stored_record(self, profile: Profile) -> dict[str, Any]:
        """The profile as stored now, links included."""
        return self.records(list(self.get_queryset().filter(pk=profile.pk).values(*self.columns)))[0]

    def created_record(self, profile: Profile, data: Mapping[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        if not data.get("wifi_configs") and not data.get("proxy_configs"):
            return profile_record(row_of(profile, self.columns), [], [])  # nothing to read back
        return self.stored_record(profile)

    def updated_record(self, profile: Profile) -> dict[str, Any]:  # type: ignore[override]
        return self.stored_record(profile)

    def conflict_record(self, profile: Profile) -> dict[str, Any]:  # type: ignore[override]
        return self.stored_record(profile)


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

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        publish_export_failure(request, response, name=kwargs["name"])  # MQTT, events.md §4.2
        return response

    @schema("profiles", errors=(401, 403, 404, 429, 503), parameters=[EXPORT_DOMAIN])
    def get(self, request: Request, name: str) -> Response:
        domain_name = request.query_params.get("domainName") or None
        exported = profile_export(
            tenant_id=request_tenant(request), name=name, domain_name=domain_name, actor=_actor(request)
        )
        return Response(exported.as_dict(), headers={"Cache-Control": "no-store"})


collection, item = Profiles.urls()
urlpatterns: list[URLPattern] = [
    collection,
    re_path(r"^profiles/export/(?P<name>[\s\S]+?)/?$", ProfileExport.as_view(), name="profile-export"),
    item,  # after the export route, which its pattern would also match
]
