"""Portal users logged in the way a browser logs in: the login form, its CSRF token, a session
cookie, and the CSRF header on every API write (what the portal's own pages would send)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Model
from rest_framework.test import APIClient

from rps_site.models import TenantMembership

PASSWORD = "Portal-Passw0rd!"
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "nothing": (),
    "view": ("view",),
    "full": ("view", "add", "change", "delete"),
}


class PortalSession(APIClient):
    """A logged-in portal user whose unsafe requests carry the CSRF token, as a browser's would."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(enforce_csrf_checks=True, **defaults)
        self.send_csrf_token = True

    def generic(self, method: str, path: str, *args: Any, **extra: Any) -> Any:
        if self.send_csrf_token and method.upper() not in {"GET", "HEAD", "OPTIONS"} and "csrftoken" in self.cookies:
            extra.setdefault("HTTP_X_CSRFTOKEN", self.cookies["csrftoken"].value)
        return super().generic(method, path, *args, **extra)


def permissions_of(model: type[Model], actions: Iterable[str]) -> list[Permission]:
    names = [f"{action}_{model._meta.model_name}" for action in actions]
    return list(Permission.objects.filter(content_type__app_label=model._meta.app_label, codename__in=names))


def portal_session(
    *,
    permissions: Iterable[Permission] = (),
    tenant_id: str = "",
    staff: bool = True,
    address: str = "198.51.100.20",
) -> PortalSession:
    """A new staff user with exactly `permissions`, logged in through the portal's login form."""
    username = f"portal-{uuid.uuid4().hex[:10]}"
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=staff)
    user.user_permissions.set(list(permissions))
    if tenant_id:
        TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = PortalSession(REMOTE_ADDR=address)
    form = client.get("/admin/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.content)
    assert token is not None, "the login form carries a CSRF token"
    logged_in = client.post(
        "/admin/login/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1).decode()},
        format="multipart",
    )
    assert logged_in.status_code == 302, logged_in.content[:300]
    return client


def role_session(model: type[Model], role: str, *, tenant_id: str = "") -> PortalSession:
    """A portal user holding `ROLE_ACTIONS[role]` on `model`."""
    return portal_session(permissions=permissions_of(model, ROLE_ACTIONS[role]), tenant_id=tenant_id)
