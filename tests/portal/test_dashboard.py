"""The portal's dashboard: one tenant's numbers, computed here a second, simpler way; its page,
scoped to the user's tenant whatever the query string says."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from devices.models import Device, ProvisioningRun, ReprovisioningRequest, RunStep
from portal.dashboard import dashboard_build
from profiles.models import Domain
from rps_site.api.versions import next_version
from rps_site.models import TenantMembership
from tests.portal.fleet import seed_fleet

NOW = timezone.now()


@pytest.fixture
def fleet(db: None) -> None:
    seed_fleet(tenant_id="acme", devices=40, runs=400, days=10, now=NOW, seed=1)
    seed_fleet(tenant_id="zeta", devices=15, runs=120, days=10, now=NOW, seed=2)


def portal_user(tenant_id: str, *, superuser: bool = False, codenames: tuple[str, ...] = ("view_device",)) -> Client:
    user = User.objects.create_user(
        username=f"u-{tenant_id}-{superuser}-{len(codenames)}", password="unused-Pw1!x", is_staff=True
    )
    user.is_superuser = superuser
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = Client()
    client.force_login(user)
    return client


def figure(page: str, name: str) -> int:
    found = re.search(rf'data-figure="{name}">(\d+)<', page)
    assert found is not None, f"no figure {name}"
    return int(found.group(1))


def runs_of(tenant_id: str, *, since: datetime, outcome: str) -> int:
    return sum(
        1
        for run in ProvisioningRun.objects.filter(device__tenant_id=tenant_id).only("action", "started_at", "outcome")
        if run.action == "activate" and run.started_at >= since and run.outcome == outcome
    )


def test_the_numbers_are_the_tenants(fleet: None) -> None:
    dashboard = dashboard_build(tenant_id="acme", now=NOW)
    devices = list(Device.objects.filter(tenant_id="acme"))
    assert dashboard.devices.total == len(devices) == 40
    for row in dashboard.devices.rows:
        for (status, _), count in zip(dashboard.devices.statuses, row.counts, strict=True):
            expected = sum(1 for d in devices if d.control_mode == row.control_mode and d.status == status)
            assert count == expected, (row.label, status)
    assert dashboard.devices.activated == sum(1 for d in devices if d.status == "activated")
    for window, counts in (
        (timedelta(days=1), dashboard.activations_day),
        (timedelta(days=7), dashboard.activations_week),
    ):
        assert counts.succeeded == runs_of("acme", since=NOW - window, outcome="success")
        assert counts.failed == runs_of("acme", since=NOW - window, outcome="failure")
        assert counts.in_progress == runs_of("acme", since=NOW - window, outcome="in_progress")
    assert dashboard.activations_week.finished > dashboard.activations_day.finished > 0


def test_the_latest_failures_with_their_failing_step(fleet: None) -> None:
    failures = dashboard_build(tenant_id="acme", now=NOW).failures
    failed = sorted(
        ProvisioningRun.objects.filter(device__tenant_id="acme", outcome="failure"),
        key=lambda run: (run.started_at, run.pk),
        reverse=True,
    )
    assert [failure.run_id for failure in failures] == [run.pk for run in failed[: len(failures)]]
    assert len(failures) == 8
    for failure in failures:
        step = RunStep.objects.get(run_id=failure.run_id, outcome="failure")
        assert failure.failing_step == step.name and failure.cause == step.detail != ""
        assert Device.objects.get(pk=failure.device_id).tenant_id == "acme"


def test_certificates_expired_or_expiring_within_30_days(db: None) -> None:
    for tenant_id, name, days in (
        ("acme", "soon", 10.5),
        ("acme", "gone", -2.5),
        ("acme", "later", 45),
        ("zeta", "theirs", 3),
    ):
        Domain.objects.create(
            tenant_id=tenant_id,
            version=next_version(),
            name=name,
            domain_suffix=f"{name}.example.com",
            provisioning_cert_storage_format="raw",
            expiration_date=NOW + timedelta(days=days),
        )
    certificates = dashboard_build(tenant_id="acme", now=NOW).certificates
    assert certificates is not None
    assert [(c.name, c.days_left, c.expired) for c in certificates] == [("gone", -3, True), ("soon", 10, False)]


def test_the_page_shows_the_users_tenant_whatever_the_query_says(fleet: None) -> None:
    staff = portal_user("acme")
    for query in ("", "?tenant=zeta", "?tenant=%27%20OR%201=1--"):
        page = staff.get(f"/admin/{query}").content.decode()
        assert figure(page, "devices") == 40
        assert "zeta" not in page
    superuser = portal_user("acme", superuser=True)
    TenantMembership.objects.create(user=User.objects.create_user(username="z", password="x"), tenant_id="zeta")
    assert figure(superuser.get("/admin/?tenant=zeta").content.decode(), "devices") == 15
    assert figure(superuser.get("/admin/?tenant=nobody").content.decode(), "devices") == 40


def test_no_device_figures_without_the_permission_to_see_devices(fleet: None) -> None:
    page = portal_user("acme", codenames=("view_profile",)).get("/admin/").content.decode()
    assert "data-figure" not in page and "portal-health" not in page
    assert "You may not view devices" in page


def test_failures_link_to_their_run(fleet: None) -> None:
    client = portal_user("acme")
    page = client.get("/admin/").content.decode()
    newest = dashboard_build(tenant_id="acme", now=NOW).failures[0]
    link = f"/admin/devices/provisioningrun/{newest.run_id}/change/"
    assert link in page and newest.failing_step in page
    run_page = client.get(link)
    assert run_page.status_code == 200 and newest.cause in run_page.content.decode()


def test_certificates_only_for_users_who_may_see_domains(db: None) -> None:
    Domain.objects.create(
        tenant_id="acme",
        version=next_version(),
        name="soon",
        domain_suffix="soon.example.com",
        provisioning_cert_storage_format="raw",
        expiration_date=NOW + timedelta(days=3.5),
    )
    assert 'data-figure="certificates"' not in portal_user("acme").get("/admin/").content.decode()
    page = portal_user("acme", codenames=("view_device", "view_domain")).get("/admin/").content.decode()
    assert figure(page, "certificates") == 1 and "expires in 3 days" in page


def test_the_dashboard_costs_a_fixed_number_of_queries(fleet: None, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client = portal_user("acme", codenames=("view_device", "view_domain"))
    client.get("/admin/")  # session and permission caches warm
    with django_assert_max_num_queries(12):
        assert client.get("/admin/").status_code == 200


def test_re_provisioning_requests_waiting_for_the_tenants_admin(db: None) -> None:
    def request(tenant_id: str, hostname: str, state: str, attempts: int) -> None:
        device = Device.objects.create(guid=str(uuid.uuid4()), hostname=hostname, tenant_id=tenant_id)
        ReprovisioningRequest.objects.create(
            device=device, tenant_id=tenant_id, state=state, attempts=attempts, client_address="192.0.2.7"
        )

    request("acme", "reset-by-mebx", ReprovisioningRequest.State.OPEN, 3)
    request("acme", "released-one", ReprovisioningRequest.State.RELEASED, 1)
    request("zeta", "theirs", ReprovisioningRequest.State.OPEN, 1)
    built = dashboard_build(tenant_id="acme", now=NOW)
    assert built.waiting_requests is not None and built.waiting_requests_total == 1
    assert [waiting.device.hostname for waiting in built.waiting_requests] == ["reset-by-mebx"]

    assert 'data-figure="waiting-requests"' not in portal_user("acme").get("/admin/").content.decode()
    page = portal_user("acme", codenames=("view_device", "view_reprovisioningrequest")).get("/admin/").content.decode()
    assert figure(page, "waiting-requests") == 1
    assert "reset-by-mebx" in page and "3 attempts" in page and "192.0.2.7" in page
    assert "theirs" not in page and "released-one" not in page
