"""URL map: the upstream admin API under /api/v1/admin/, OpenAPI and its docs, and the admin portal
(where `/` leads). The docs page loads Swagger UI from this server (drf-spectacular-sidecar), so it
works offline."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from metrics.views import metrics
from rps_site import site_api
from rps_site.api_errors import unknown_route

admin_api: list[URLPattern | URLResolver] = [
    re_path(r"^/?$", site_api.admin_root),
    re_path(r"^health/?$", site_api.health),
    re_path(r"^version/?$", site_api.version),
    path("", include("profiles.api.urls")),
    path("", include("devices.api.urls")),
    path("", include("audit.api.urls")),
    re_path(r"^[\s\S]*$", unknown_route),  # [\s\S]: a name may hold a newline
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    re_path(r"^api/v1/admin/?", include(admin_api)),
    path("metrics", metrics),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/[\s\S]*$", unknown_route),
    path("admin/", admin.site.urls),
]
