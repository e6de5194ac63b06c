"""REST endpoints for domains (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
