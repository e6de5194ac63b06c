"""The admin portal for what admins define; one module per resource, all through the services."""

from profiles.admin import cira_configs, domains, ieee8021x_configs, profiles, proxy_configs, wireless_configs

__all__ = ["cira_configs", "domains", "ieee8021x_configs", "profiles", "proxy_configs", "wireless_configs"]
