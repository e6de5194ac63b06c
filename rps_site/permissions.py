"""Who may call which admin API endpoint (SECURITY.md check 24).

Two kinds of caller reach the API (README, "API authentication"):
- a bearer token in MPS's format is a full administrator of its tenant, as upstream's web UI expects;
- a portal session gets exactly what the portal gives the same user: an active staff user holding
  the Django model permission of the method (view for GET/HEAD/OPTIONS, add for POST, change for
  PUT/PATCH, delete for DELETE) on the view's model. Superusers hold every permission.

A view names its model in one line, and a method that needs another permission than the usual
one names it too:

    class DeviceItem(APIView):
        permission_model = Device
        permission_actions = {"POST": "change"}   # optional

`ModelPermissions` is the API's default permission class, so a view that names no model is open
to bearer tokens and superusers only: a new endpoint is never open to every staff session by
omission. The tenant a caller acts for comes from its credential (`request_tenant`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from django.db.models import Model
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from rps_site.authentication import TokenUser

METHOD_ACTIONS: Mapping[str, str] = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def model_permission(model: type[Model], action: str) -> str:
    """`profiles.add_domain` for (Domain, "add")."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def portal_user_may(user: Any, permissions: Iterable[str]) -> bool:
    """What the portal demands of a session user: active, staff, and every permission named."""
    return bool(user.is_active and user.is_staff and user.has_perms(list(permissions)))


class ModelPermissions(BasePermission):
    """Bearer tokens pass; session users need the model permission of the request's method."""

    message = "This request needs a permission the portal user does not have."
    DEFAULT_ACTIONS: ClassVar[Mapping[str, str]] = METHOD_ACTIONS

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if isinstance(user, TokenUser):
            return True
        method = request.method or "GET"
        if not hasattr(view, method.lower()):
            return True  # the view answers 404 for a verb it does not serve, to everyone alike
        model: type[Model] | None = getattr(view, "permission_model", None)
        if model is None:
            self.message = "This endpoint is open to bearer tokens and portal superusers only."
            return bool(user.is_active and user.is_superuser)
        actions = {**self.DEFAULT_ACTIONS, **getattr(view, "permission_actions", {})}
        required = model_permission(model, actions.get(method, "change"))
        self.message = f"This request needs the {required} permission."
        return portal_user_may(user, [required])
