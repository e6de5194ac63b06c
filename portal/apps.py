"""The admin portal: its site (dashboard, sections), look, and the admin's time zone."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal"


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the portal's site as `admin.site`, so every `@admin.register` lands there."""

    default = False
    default_site = "portal.site.PortalSite"
