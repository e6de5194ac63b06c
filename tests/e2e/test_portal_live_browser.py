"""The device page in a real browser (Debian's Chromium, Playwright) while amtsim activates a
device over WSS: the steps arrive over the portal's live socket as they end, with their true
outcomes; a failed run shows its failing step and cause; a read-only user sees the device but no
action, and a posted one changes nothing. Screenshots in var/screenshots/ (device-live.png,
device.png, device-failed.png, device-1400.png)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from amtsim import DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from rps_site.serving import run_manage
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique
from tests.e2e.portal_browser import (
    SEED_FLEET,
    Portal,
    needs_chromium,
    profile_through_the_grouped_form,
    running_portal,
    screenshot,
)

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def portal(rps_server: RpsServer) -> Iterator[Portal]:
    with running_portal(rps_server) as running:
        yield running


def activation_in_background(rps: RpsServer, device: VirtualAmtDevice, profile: str) -> tuple[threading.Thread, dict]:  # type: ignore[type-arg]
    """rpc-go's `activate` for `device` on a thread of its own, so the browser can watch it run."""
    outcome: dict[str, Any] = {}

    async def activate() -> None:
        async with serve_device(device) as endpoint:
            outcome["result"] = await run_rpc(
                ["activate", "-u", rps.wss_url, "-profile", profile, "-cafile", str(rps.ca_file)],
                device_endpoint=endpoint,
            )

    worker = threading.Thread(target=lambda: asyncio.run(activate()), daemon=True)
    worker.start()
    return worker, outcome


def device_id_once_known(rps: RpsServer, guid: str, *, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://"), autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute("select id from devices_device where guid = %s", (guid,)).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.1)
    raise AssertionError(f"device {guid} never reached the registry")


def step_names(run: Any) -> list[str]:
    return [text.strip() for text in run.locator("tr[data-position] td:nth-child(2)").all_inner_texts()]


def test_a_profile_from_the_grouped_form_activated_while_the_device_page_shows_the_steps_live(portal: Portal) -> None:
    profile = profile_through_the_grouped_form(portal)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("live-")))
    # The first WS-Man call after the run is recorded waits, so the page is open before any step ends.
    device.faults.add(Fault.slow(call="AMT_GeneralSettings.Get", seconds=6))
    guid = device.identity.uuid.lower()
    dashboard = portal.page()
    dashboard.wait_for_selector("#portal-live [data-live-state]:has-text('live')")
    activations_before = int(dashboard.inner_text("[data-figure=activations-day]"))

    worker, outcome = activation_in_background(portal.server, device, profile)
    page = portal.page()
    page.goto(f"{portal.base}/admin/devices/device/{device_id_once_known(portal.server, guid)}/change/")
    page.wait_for_selector("[data-live-state]:has-text('live')")
    page.evaluate("window.portalPageKept = true")  # gone if anything reloaded the page
    assert page.locator("tr.portal-step-new").count() == 0, "no step had ended when the page opened"

    run = page.locator("li.portal-run").first
    run.locator("[data-run-outcome].portal-chip-success").wait_for(timeout=60_000)
    worker.join(timeout=60)
    assert outcome["result"].exit_code == 0, outcome["result"].message
    assert page.evaluate("window.portalPageKept") is True
    live = step_names(run)
    assert run.locator("tr.portal-step-new").count() == len(live) >= 10, "every step arrived over the socket"
    for name in ("IPS_HostBasedSetupService.Setup", "configure WirelessNetwork", "configure CIRAProxy"):
        assert run.locator(f"tr.portal-step-success:has-text('{name}')").count() == 1, name
    for name in ("configure TLS", "configure CIRAConnection"):
        assert run.locator(f"tr.portal-step-not_applicable:has-text('{name}')").count() == 1, name
    # The end of the session brings the state cards and facts as the registry now has them.
    page.wait_for_function("document.querySelector('.portal-device-state').textContent.includes('Client control mode')")
    state = page.inner_text(".portal-device-state")
    assert "Activated" in state and "not activated" not in state, state
    assert "unbound" not in page.inner_text("[data-device-refresh=facts]")
    assert page.evaluate("window.portalPageKept") is True
    screenshot(page, "device-live.png")

    # The same run as the registry recorded it, after a reload: the same steps in the same order.
    page.reload()
    recorded = step_names(page.locator("li.portal-run").first)
    # Only what ended before the page opened (the plan's resolution) did not arrive live.
    assert recorded[0] == "resolve plan" and recorded[1:] == live, (recorded, live)
    assert "Activated" in page.inner_text(".portal-device-state")
    screenshot(page, "device.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    overflow = page.evaluate(
        "Math.max(...[...document.querySelectorAll('.portal-table-scroll')].map(el => el.scrollWidth - el.clientWidth))"
    )
    assert overflow <= 0, "the runs' tables fit a 1400 px window"
    screenshot(page, "device-1400.png", full_page=False)

    # The dashboard, open all along, counted the activation and listed the session.
    dashboard.wait_for_function(
        f"parseInt(document.querySelector('[data-figure=activations-day]').textContent) === {activations_before + 1}"
    )
    assert guid in dashboard.inner_text("#portal-live") and "Success" in dashboard.inner_text("#portal-live")


def test_a_failed_run_shows_its_failing_step_and_cause(portal: Portal) -> None:
    profile = create_ccm_profile(portal.server)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("fail-")))
    device.faults.add(Fault.return_value(call="IPS_HostBasedSetupService.Setup", value=2057))
    worker, outcome = activation_in_background(portal.server, device, profile)
    worker.join(timeout=60)
    assert outcome["result"].exit_code != 0

    page = portal.page()
    device_id = device_id_once_known(portal.server, device.identity.uuid.lower())
    page.goto(f"{portal.base}/admin/devices/device/{device_id}/change/")
    run = page.locator("li.portal-run").first
    assert "Failure" in run.locator("[data-run-outcome]").inner_text()
    cause = run.locator("[data-run-cause]").inner_text()
    assert "Failed at IPS_HostBasedSetupService.Setup" in cause and "2057" in cause
    assert run.locator("tr.portal-step-failure:has-text('IPS_HostBasedSetupService.Setup')").count() == 1
    screenshot(page, "device-failed.png")


def test_a_read_only_user_sees_the_device_but_no_action(portal: Portal) -> None:
    tenant = unique("rodev")
    run_manage(
        {
            **portal.server.environment,
            "PORTAL_TENANT": tenant,
            "FLEET_DEVICES": "3",
            "FLEET_RUNS": "12",
            "FLEET_SEED": "16",
        },
        "shell",
        "-c",
        SEED_FLEET,
    )
    username, password = portal.user(tenant, "view_device")
    page = portal.page(username, password)
    page.goto(f"{portal.base}/admin/devices/device/")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("li.portal-run")
    assert page.locator("[data-device-action]").count() == 0
    device_id = page.url.rstrip("/").split("/")[-2]

    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()  # the logout form's
    page.request.post(
        f"{portal.base}/admin/devices/device/",
        form={"csrfmiddlewaretoken": token, "action": "purge", "_selected_action": device_id, "confirm": "yes"},
        headers={"Referer": page.url},
    )
    page.reload()
    assert page.locator("li.portal-run").count() > 0, "the device and its history are still there"
