"""Reads the wireless config API needs beyond its own records, always within one tenant."""

from __future__ import annotations

from profiles.models import Ieee8021xConfig


def ieee8021x_config_for_wireless(*, tenant_id: str, name: str) -> Ieee8021xConfig | None:
    """The 802.1X config a wireless config names (its existence and kind are checked)."""
    return Ieee8021xConfig.objects.for_tenant(tenant_id).named(name).first()
