"""The admin API routes of every resource admins define (rest-api.md §0)."""

from profiles.api import cira_configs, domains, ieee8021x_configs, profiles, proxy_configs, wireless_configs

urlpatterns = [
    *domains.urlpatterns,
    *cira_configs.urlpatterns,
    *profiles.urlpatterns,
    *wireless_configs.urlpatterns,
    *ieee8021x_configs.urlpatterns,
    *proxy_configs.urlpatterns,
]
