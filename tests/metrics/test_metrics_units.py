"""The metrics endpoint's credential, the labels (URL patterns, step names) and the multiprocess
start-up sweep, in-process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from activation import admission
from metrics.http import route_label
from metrics.multiprocess import remove_dead_workers
from metrics.sessions import step_label
from rps_site.sensitive import Secret
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import proxy_body

TOKEN = "unit-scrape-token-0123456789"


@pytest.fixture
def scraper(settings: Any) -> APIClient:
    settings.METRICS_TOKEN = Secret(TOKEN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client


def test_no_token_setting_no_endpoint(settings: Any) -> None:
    settings.METRICS_TOKEN = Secret("")
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_the_token_is_required_and_compared_exactly(scraper: APIClient) -> None:
    assert APIClient().get("/metrics").status_code == 401
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 401
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert scraper.post("/metrics").status_code == 405
    answer = scraper.get("/metrics")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    assert b"rps_device_sessions_total" in answer.content or b"rps_device_sessions" in answer.content


@pytest.mark.django_db
def test_api_requests_are_counted_by_url_pattern_never_by_path(scraper: APIClient, vault: Any) -> None:
    name = unique_name("proxy")
    labels = {"route": "/api/v1/admin/proxyconfigs", "method": "POST", "status": "201"}
    before = REGISTRY.get_sample_value("rps_http_requests_total", labels) or 0
    assert client_for("").post("/api/v1/admin/proxyconfigs", proxy_body(name), format="json").status_code == 201
    assert client_for("").get(f"/api/v1/admin/proxyconfigs/{name}").status_code == 200
    assert client_for("").get(f"/api/v1/admin/{name}/nothing").status_code == 404
    assert REGISTRY.get_sample_value("rps_http_requests_total", labels) == before + 1
    item = {"route": "/api/v1/admin/proxyconfigs/{name}", "method": "GET", "status": "200"}
    assert (REGISTRY.get_sample_value("rps_http_requests_total", item) or 0) >= 1
    assert (
        REGISTRY.get_sample_value("rps_http_requests_total", {"route": "unmatched", "method": "GET", "status": "404"})
        or 0
    ) >= 1
    assert name not in scraper.get("/metrics").content.decode()


@pytest.mark.parametrize(
    ("pattern", "label"),
    [
        ("^api/v1/admin/?^profiles/(?P<name>[^/]+)/?$", "/api/v1/admin/profiles/{name}"),
        ("^api/v1/admin/?^profiles/export/(?P<name>[\\s\\S]+?)/?$", "/api/v1/admin/profiles/export/{name}"),
        ("^api/v1/admin/?^devices/(?P<guid>[^/]+)/move/?$", "/api/v1/admin/devices/{guid}/move"),
        ("admin/profiles/profile/<path:object_id>/change/", "/admin/profiles/profile/{object_id}/change"),
        ("metrics", "/metrics"),
    ],
)
def test_route_labels(pattern: str, label: str) -> None:
    assert route_label(pattern) == label


def test_step_labels_hold_no_device_supplied_name() -> None:
    assert step_label("clean-up: wireless profile Office-WiFi-42 deleted") == "clean-up: wireless profile"
    assert step_label("clean-up: MPS server mps.example.com deleted") == "clean-up: MPS server"
    assert step_label("IPS_HostBasedSetupService.Setup") == "IPS_HostBasedSetupService.Setup"
    assert step_label("x" * 65) == "other"


def test_refusal_causes() -> None:
    assert admission.refusal_cause(admission.too_many_per_minute()) == "rate_limit"
    assert admission.refusal_cause(admission.too_many_at_once()) == "sockets_per_address"


def test_start_up_removes_the_live_gauges_of_dead_workers(tmp_path: Path) -> None:
    dead_pid = 2**22 + 12345  # above Linux's pid range: never a running process
    (tmp_path / f"gauge_livesum_{dead_pid}.db").write_bytes(b"")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead_pid}.db").write_bytes(b"")
    assert remove_dead_workers(tmp_path) == [dead_pid]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{dead_pid}.db",
        f"gauge_livesum_{os.getpid()}.db",
    ], "a dead worker's counters stay in the sums; only its live gauge goes"
