"""REST endpoints for ieee8021x configs (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
