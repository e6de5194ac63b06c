"""The admin portal: its site (dashboard, sections), look, and the admin's time zone."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from activation import session_events
        from portal.live import relay_session_event

        session_events.subscribe(relay_session_event)  # live progress (portal/live.py)


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the portal's site as `admin.site`, so every `@admin.register` lands there."""

    default = False
    default_site = "portal.site.PortalSite"
