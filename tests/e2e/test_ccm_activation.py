"""CCM activation and deactivation end to end: rpc-go client → WSS → RPS → virtual AMT device."""

from __future__ import annotations

import asyncio

import httpx
import psycopg

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique


async def digest_login_succeeds(endpoint, password: str) -> bool:  # type: ignore[no-untyped-def]
    """A real HTTP digest login as `admin` against the virtual device's AMT port."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            f"http://{endpoint.host}:{endpoint.http_port}/wsman",
            content=b"<not-a-soap-envelope/>",
            auth=httpx.DigestAuth("admin", password),
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        )
    return response.status_code != 401


def device_row(rps: RpsServer, guid: str) -> tuple | None:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(
            "select status, control_mode, profile_name from devices_device where guid = %s", (guid,)
        ).fetchone()


def step_times(rps: RpsServer, guid: str) -> list:  # type: ignore[type-arg]
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        rows = connection.execute(
            """select s.recorded_at from devices_runstep s join devices_provisioningrun r on r.id = s.run_id
               join devices_device d on d.id = r.device_id where d.guid = %s order by r.id, s.position""",
            (guid,),
        ).fetchall()
    return [row[0] for row in rows]


async def activate(rps: RpsServer, device: VirtualAmtDevice, profile: str, *extra: str):  # type: ignore[no-untyped-def]
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps.wss_url, "-profile", profile, "-cafile", str(rps.ca_file), *extra],
            device_endpoint=endpoint,
        )
        return result, endpoint


async def test_ccm_activation_then_deactivation(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
    guid = device.identity.uuid.lower()
    mps_calls_before = len(rps_server.mps.requests)

    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Client control mode."
        assert result.status["Components"]["Activation"]["Result"] == "Success"

        # The device is in CCM, and the password RPS stored is the one it uses.
        assert device.state.control_mode == ControlMode.CCM
        stored = rps_server.vault_store().read(device_path(guid))
        assert stored is not None
        password = stored.values["AMT_PASSWORD"].reveal()
        assert await digest_login_succeeds(endpoint, password)
        assert not await digest_login_succeeds(endpoint, password + "x")

        # MPS got the device, without an mpsusername key (correction 11).
        posts = [call for call in rps_server.mps.requests[mps_calls_before:] if call.method == "POST"]
        assert posts and posts[-1].body["guid"] == guid
        assert "mpsusername" not in posts[-1].body and posts[-1].body["tags"] == ["e2e"]
        # The last registration carries the final outcome (§4.5), NotApplicable components left out.
        final_status = posts[-1].body["deviceInfo"]["status"]
        assert final_status["Activation"]["Result"] == "Success"
        assert "CIRAConnection" not in final_status
        assert device_row(rps_server, guid) == ("activated", 1, profile)
        # Each step keeps when it ended: in order, and spread over the run (not one shared time).
        times = step_times(rps_server, guid)
        assert len(times) > 5 and times == sorted(times) and times[-1] > times[0]

        # Deactivate with the password from Vault.
        result = await run_rpc(
            ["deactivate", "-u", rps_server.wss_url, "-password", password, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Deactivated"
        assert device.state.control_mode == ControlMode.PRE_PROVISIONING
        assert rps_server.vault_store().read(device_path(guid)) is None
        deletes = [call for call in rps_server.mps.requests if call.method == "DELETE" and guid in call.path]
        assert deletes
        assert device_row(rps_server, guid)[0] == "deactivated"
    assert password not in rps_server.log_text()


async def test_wrong_profile_is_refused_and_nothing_is_written(rps_server: RpsServer) -> None:
    device = VirtualAmtDevice(DeviceIdentity())
    result, _ = await activate(rps_server, device, "no-such-profile")
    assert result.exit_code != 0
    assert "does not match list of available AMT profiles" in (result.message or result.error or "")
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid)) is None
    # The registry shows the refused attempt as failed, not as still in progress.
    assert device_row(rps_server, device.identity.uuid.lower()) == ("failed", 0, "")


async def test_tenant_not_allowed_on_the_device_channel(rps_server: RpsServer) -> None:
    device = VirtualAmtDevice(DeviceIdentity())
    profile = create_ccm_profile(rps_server)
    result, _ = await activate(rps_server, device, profile, "-tenant", "intruder")
    assert result.exit_code != 0
    assert "is not accepted on the device channel" in (result.message or "")
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert device.call_names == [], "the device is never asked anything"
    assert device_row(rps_server, device.identity.uuid.lower()) is None, "nothing is recorded under that tenant"
    # Deactivation and maintenance are refused the same way.
    activated = VirtualAmtDevice.activated(DeviceIdentity(), admin_password="Whatever-1!")
    async with serve_device(activated) as endpoint:
        for command in (
            ["deactivate", "-password", "Whatever-1!"],
            ["maintenance", "syncclock", "-password", "Whatever-1!"],
        ):
            refused = await run_rpc(
                [*command, "-u", rps_server.wss_url, "-cafile", str(rps_server.ca_file), "-tenant", "intruder"],
                device_endpoint=endpoint,
            )
            assert refused.exit_code != 0 and "is not accepted on the device channel" in refused.message
    assert activated.call_names == []
    assert device_row(rps_server, activated.identity.uuid.lower()) is None


async def test_soap_fault_on_setup_fails_cleanly_while_a_healthy_activation_succeeds(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    broken = VirtualAmtDevice(DeviceIdentity())
    broken.faults.add(Fault.soap_fault(call="IPS_HostBasedSetupService.Setup"))
    healthy = VirtualAmtDevice(DeviceIdentity())
    (broken_result, _), (healthy_result, _) = await asyncio.gather(
        activate(rps_server, broken, profile), activate(rps_server, healthy, profile)
    )
    assert broken_result.exit_code != 0
    assert broken.state.control_mode == ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(broken.identity.uuid)) is None, "an unused password is not kept"
    assert healthy_result.exit_code == 0, healthy_result.message
    assert healthy.state.control_mode == ControlMode.CCM
