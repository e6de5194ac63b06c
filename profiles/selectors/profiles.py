"""Reads of AMT profiles beyond the API's profile rows, always within one tenant: a profile's Wi-Fi
and proxy links (in upstream's order, rest-api.md §2.3: Wi-Fi by priority, proxies by name), the
configs a profile body names, and the profile a device activation names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models.functions import Lower

from profiles.models import (
    Ieee8021xConfig,
    NamedTenantRecord,
    Profile,
    ProfileProxyConfig,
    ProfileWirelessConfig,
    ProxyConfig,
    WirelessConfig,
)

Links = dict[int, list[dict[str, Any]]]


def profile_links(*, profile_ids: list[int]) -> tuple[Links, Links]:
    """(Wi-Fi links, proxy links) by profile id, each link as the API shows it."""
    if not profile_ids:
        return {}, {}
    return _wifi_links(profile_ids), _proxy_links(profile_ids)


def _wifi_links(profile_ids: list[int]) -> Links:
    links: Links = defaultdict(list)
    rows = (
        ProfileWirelessConfig.objects.filter(profile_id__in=profile_ids)
        .order_by("priority", Lower("wireless_config__name"))
        .values_list("profile_id", "priority", "wireless_config__name")
    )
    for profile_id, priority, name in rows:
        links[profile_id].append({"priority": priority, "profileName": name})
    return links


def _proxy_links(profile_ids: list[int]) -> Links:
    links: Links = defaultdict(list)
    rows = (
        ProfileProxyConfig.objects.filter(profile_id__in=profile_ids)
        .order_by(Lower("proxy_config__name"), "priority")
        .values_list("profile_id", "proxy_config__name", "priority")
    )
    for profile_id, name, priority in rows:
        links[profile_id].append({"name": name, "priority": priority})
    return links


# --- look-ups the validators need --------------------------------------------------------------


def _names_missing(model: type[NamedTenantRecord], tenant_id: str, names: list[Any]) -> list[Any]:
    wanted = _lower_names(names)
    known = _lower_names(
        model.objects.for_tenant(tenant_id)
        .annotate(lower_name=Lower("name"))
        .filter(lower_name__in=wanted)
        .values_list("name", flat=True)
    )
    return [name for name in names if not isinstance(name, str) or name.lower() not in known]


def _lower_names(names: Iterable[Any]) -> set[str]:
    return {name.lower() for name in names if isinstance(name, str)}


def wireless_names_missing(*, tenant_id: str, names: list[Any]) -> list[Any]:
    """The requested wifi config names (request order) that the tenant does not have."""
    return _names_missing(WirelessConfig, tenant_id, names)


def proxy_names_missing(*, tenant_id: str, names: list[Any]) -> list[Any]:
    return _names_missing(ProxyConfig, tenant_id, names)


def ieee8021x_config_find(*, tenant_id: str, name: Any) -> Ieee8021xConfig | None:
    if not isinstance(name, str):
        return None
    return Ieee8021xConfig.objects.for_tenant(tenant_id).named(name).first()


def profiles_using_ieee8021x_config(*, tenant_id: str, name: str) -> list[str]:
    """The names of the profiles whose wired 802.1X is that config, or whose Wi-Fi links use it."""
    wired = Profile.objects.for_tenant(tenant_id).filter(ieee8021x_config__name__iexact=name)
    wireless = Profile.objects.for_tenant(tenant_id).filter(
        wireless_links__wireless_config__ieee8021x_config__name__iexact=name
    )
    return sorted({*wired.values_list("name", flat=True), *wireless.values_list("name", flat=True)})


def profile_for_activation(*, tenant_id: str, name: str) -> Profile | None:
    """The profile an activation names (name matched case-insensitively, as upstream does), and
    whether it links any Wi-Fi or proxy config (`links_wireless`, `links_proxies`: most profiles
    link none, and the configuration plan then skips those two look-ups), in one query. Its
    802.1X and CIRA configs load when read, and only when it has them.

    Raw SQL on purpose: compiling the equivalent ORM query (case-insensitive match, two EXISTS
    annotations) cost several times its run time, once per activation (bench/activation_bench.py).
    """
    profiles = Profile._meta.db_table
    return next(
        iter(
            Profile.objects.raw(
                f"SELECT p.*,"  # noqa: S608  (table names are the models' own, never input)
                f" EXISTS (SELECT 1 FROM {ProfileWirelessConfig._meta.db_table} w WHERE w.profile_id = p.id)"
                f" AS links_wireless,"
                f" EXISTS (SELECT 1 FROM {ProfileProxyConfig._meta.db_table} x WHERE x.profile_id = p.id)"
                f" AS links_proxies"
                f" FROM {profiles} p WHERE p.tenant_id = %s AND LOWER(p.name) = LOWER(%s)",
                [tenant_id, name],
            )
        ),
        None,
    )
