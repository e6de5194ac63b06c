"""REST endpoints for profiles (to be built)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
