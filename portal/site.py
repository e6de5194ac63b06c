"""The portal's admin site: a dashboard as the home page, provisioning first, access last.

Every page is Django's admin; what changes is the home (`portal.dashboard`), the order and
grouping of sections (users, groups and login lockouts under one "Access" section), and the
health panel the dashboard loads after it is shown.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone

from devices.models import Device, ProvisioningRun, ReprovisioningRequest
from portal.dashboard import dashboard_build
from portal.health import component_health
from profiles.models import Domain
from rps_site.models import TenantMembership

ACCESS = "access"
ACCESS_APPS = ("auth", "axes")
SECTION_ORDER = ("devices", "profiles", ACCESS)
# Within a section: what an admin reaches for first, first.
MODEL_ORDER = (
    "Device",
    "ProvisioningRun",
    "Profile",
    "Domain",
    "CiraConfig",
    "WirelessConfig",
    "Ieee8021xConfig",
    "ProxyConfig",
    "ProfileExportRecord",
    "User",
    "Group",
)


class PortalSite(admin.AdminSite):
    site_header = "RPS provisioning console"
    site_title = "RPS console"
    index_title = "Dashboard"
    site_url = None  # there is no public site to go back to
    index_template = "portal/dashboard.html"

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().each_context(request), "portal_tenant": TenantMembership.tenant_of(request.user)}

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("health/", self.admin_view(self.health_view), name="portal_health"),
            path(f"{ACCESS}/", self.admin_view(self.access_index), name="portal_access"),
            *super().get_urls(),
        ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """Sections in provisioning order; auth and axes merged into one "Access" section."""
        access_only = app_label in (*ACCESS_APPS, ACCESS)
        apps = super().get_app_list(request, None if access_only else app_label)
        access_models = [model for app in apps if app["app_label"] in ACCESS_APPS for model in app["models"]]
        apps = [app for app in apps if app["app_label"] not in ACCESS_APPS]
        if access_models:
            apps.append(
                {
                    "name": "Access",
                    "app_label": ACCESS,
                    "app_url": reverse("admin:portal_access", current_app=self.name),
                    "has_module_perms": True,
                    "models": access_models,
                }
            )
        apps.sort(key=lambda app: _position(SECTION_ORDER, app["app_label"]))
        for app in apps:
            app["models"].sort(key=lambda model: (_position(MODEL_ORDER, model["object_name"]), str(model["name"])))
        return [app for app in apps if app["app_label"] == ACCESS] if access_only else apps

    def access_index(self, request: HttpRequest) -> HttpResponse:
        return self.app_index(request, ACCESS)

    def may_view(self, request: HttpRequest, model: type[Model]) -> bool:
        model_admin = self._registry.get(model)
        return model_admin is not None and model_admin.has_view_or_change_permission(request)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        tenant_id = dashboard_tenant(request)
        context: dict[str, Any] = {
            "tenant_id": tenant_id,
            "tenant_choices": tenant_choices(request, tenant_id),
            "may_view_devices": self.may_view(request, Device) and self.may_view(request, ProvisioningRun),
        }
        if context["may_view_devices"]:
            context["dashboard"] = dashboard_build(
                tenant_id=tenant_id,
                now=timezone.now(),
                with_certificates=self.may_view(request, Domain),
                with_requests=self.may_view(request, ReprovisioningRequest),
            )
        return super().index(request, {**context, **(extra_context or {})})

    def health_view(self, request: HttpRequest) -> HttpResponse:
        return TemplateResponse(request, "portal/health.html", {"components": component_health()})


def _position(order: tuple[str, ...], name: str) -> int:
    return order.index(name) if name in order else len(order)


def dashboard_tenant(request: HttpRequest) -> str:
    """The user's tenant; a superuser may look at any tenant the deployment knows of."""
    own = TenantMembership.tenant_of(request.user)
    wanted = request.GET.get("tenant")
    if wanted is not None and request.user.is_superuser and wanted in known_tenants():
        return wanted
    return own


def known_tenants() -> set[str]:
    """Tenants named in the configuration (device channel) or given to portal users."""
    return {*settings.DEVICE_TENANTS, *TenantMembership.objects.values_list("tenant_id", flat=True).distinct()}


def tenant_choices(request: HttpRequest, current: str) -> list[str]:
    if not request.user.is_superuser:
        return []
    return sorted(known_tenants() | {current})
