"""REST endpoints for proxy configs (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
