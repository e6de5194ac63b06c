"""REST endpoints for wireless configs (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
