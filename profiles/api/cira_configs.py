"""REST endpoints for cira configs (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
