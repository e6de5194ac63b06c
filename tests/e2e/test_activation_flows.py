"""ACM, CCM→ACM upgrade, password rotation and maintenance end to end, over WSS with amtsim.

Each test proves the outcome on the virtual device (control mode, a digest login with the
password read from Vault), in Vault, in the device registry and in what MPS received.
"""

from __future__ import annotations

import base64

import httpx
import psycopg
import pytest

from amtsim import FACTORY_ROOT_HASHES, ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from amtsim.pki import make_provisioning_chain
from rps_site.sensitive import Secret
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique

PFX_PASSWORD = "Pfx-Passw0rd!"


def device_secret(rps: RpsServer, guid: str) -> dict[str, str]:
    stored = rps.vault_store().read(device_path(guid))
    assert stored is not None, f"no secret for {guid}"
    return {key: value.reveal() for key, value in stored.values.items()}


async def digest_login_succeeds(endpoint, password: str) -> bool:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            f"http://{endpoint.host}:{endpoint.http_port}/wsman",
            content=b"<x/>",
            auth=httpx.DigestAuth("admin", password),
        )
    return response.status_code != 401


def registry(rps: RpsServer, guid: str) -> tuple:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(
            "select status, control_mode, profile_name from devices_device where guid = %s", (guid.lower(),)
        ).fetchone()


def last_run_steps(rps: RpsServer, guid: str) -> list[tuple[str, str]]:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(
            """select s.name, s.outcome from devices_runstep s join devices_provisioningrun r on r.id = s.run_id
               join devices_device d on d.id = r.device_id where d.guid = %s
               and r.id = (select max(id) from devices_provisioningrun where device_id = d.id) order by s.position""",
            (guid.lower(),),
        ).fetchall()


def create_domain_and_acm_profile(rps: RpsServer, suffix: str, **profile_fields: object) -> tuple[str, object]:
    chain = make_provisioning_chain(suffix)
    with rps.api() as api:
        domain = api.post(
            "/domains",
            json={
                "profileName": unique("dom"),
                "domainSuffix": suffix,
                "provisioningCert": base64.b64encode(chain.pfx(PFX_PASSWORD)).decode(),
                "provisioningCertStorageFormat": "raw",
                "provisioningCertPassword": PFX_PASSWORD,
            },
        )
        assert domain.status_code == 201, domain.text
        name = unique("acm")
        profile = api.post(
            "/profiles",
            json={
                "profileName": name,
                "activation": "acmactivate",
                "generateRandomPassword": True,
                "generateRandomMEBxPassword": True,
                "dhcpEnabled": True,
                **profile_fields,
            },
        )
        assert profile.status_code == 201, profile.text
    return name, chain


def rpc(rps: RpsServer, *argv: str) -> list[str]:
    return [*argv, "-u", rps.wss_url, "-cafile", str(rps.ca_file)]


async def test_acm_activation_with_a_generated_provisioning_chain(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256]))
    guid = device.identity.uuid
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
        assert result.exit_code == 0, result.message
        assert result.status_text == "Activated to admin control mode."
        assert device.state.control_mode == ControlMode.ACM
        secret = device_secret(rps_server, guid)
        assert await digest_login_succeeds(endpoint, secret["AMT_PASSWORD"])
        assert device.state.mebx_password == secret["MEBX_PASSWORD"]
    assert registry(rps_server, guid) == ("activated", 2, profile)
    assert secret["AMT_PASSWORD"] not in rps_server.log_text()


async def test_acm_with_an_untrusted_root_is_refused(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme')}.example.com"
    profile, _ = create_domain_and_acm_profile(rps_server, suffix)
    stranger = make_provisioning_chain(suffix)
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix, trusted_root_hashes=[stranger.root_sha256]))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.exit_code != 0
    assert "doesn't match any trusted certificates" in result.message
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid)) is None


async def test_a_device_with_only_the_factory_root_hashes_gets_the_hardware_refusal(rps_server: RpsServer) -> None:
    """Issue 13 G3: amtsim reports AMT's factory hash list, as hardware does, so an ACM domain
    whose root AMT does not trust gets the hash-mismatch refusal, not "Missing certificate hashes"."""
    suffix = f"{unique('acme')}.example.com"
    profile, _ = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.payload is not None and result.payload["certHashes"] == list(FACTORY_ROOT_HASHES)
    assert result.exit_code != 0
    assert "doesn't match any trusted certificates" in result.message, result.message
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid)) is None


async def test_acm_with_the_domain_root_added_beside_the_factory_hashes(rps_server: RpsServer) -> None:
    """A root added in MEBx sits among the factory hashes; the server finds it there."""
    suffix = f"{unique('acme')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    hashes = [*FACTORY_ROOT_HASHES[:9], chain.root_sha256.upper(), *FACTORY_ROOT_HASHES[9:]]
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix, trusted_root_hashes=hashes))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.exit_code == 0, result.message
    assert device.state.control_mode == ControlMode.ACM


async def test_acm_with_a_suffix_no_domain_has_is_refused(rps_server: RpsServer) -> None:
    profile, chain = create_domain_and_acm_profile(rps_server, f"{unique('acme')}.example.com")
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix="nowhere.invalid", trusted_root_hashes=[chain.root_sha256]))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.exit_code != 0
    assert "does not match list of available AMT domain suffixes" in result.message
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING


async def test_ccm_device_upgraded_to_acm(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme')}.example.com"
    ccm_profile = create_ccm_profile(rps_server)
    acm_profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256]))
    guid = device.identity.uuid
    async with serve_device(device) as endpoint:
        first = await run_rpc(rpc(rps_server, "activate", "-profile", ccm_profile), device_endpoint=endpoint)
        assert first.exit_code == 0, first.message
        ccm_password = device_secret(rps_server, guid)["AMT_PASSWORD"]
        upgrade = await run_rpc(
            rpc(rps_server, "activate", "-profile", acm_profile, "-password", ccm_password), device_endpoint=endpoint
        )
        assert upgrade.exit_code == 0, upgrade.message
        assert upgrade.status_text == "Upgraded to admin control mode."
        assert device.state.control_mode == ControlMode.ACM
        secret = device_secret(rps_server, guid)
        assert "PENDING_AMT_PASSWORD" not in secret
        assert await digest_login_succeeds(endpoint, secret["AMT_PASSWORD"])
        assert device.state.mebx_password == secret["MEBX_PASSWORD"]
    assert registry(rps_server, guid) == ("activated", 2, acm_profile)


async def test_reactivation_rotates_the_password_through_pending(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid
    async with serve_device(device) as endpoint:
        assert (
            await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
        ).exit_code == 0
        old = device_secret(rps_server, guid)["AMT_PASSWORD"]
        again = await run_rpc(
            rpc(rps_server, "activate", "-profile", profile, "-password", old), device_endpoint=endpoint
        )
        assert again.exit_code == 0, again.message
        assert again.status_text == "already enabled in client mode."
        secret = device_secret(rps_server, guid)
        assert secret["AMT_PASSWORD"] != old and "PENDING_AMT_PASSWORD" not in secret
        assert await digest_login_succeeds(endpoint, secret["AMT_PASSWORD"])
        assert not await digest_login_succeeds(endpoint, old)

        wrong = await run_rpc(
            rpc(rps_server, "activate", "-profile", profile, "-password", "Wrong-Pass1!"), device_endpoint=endpoint
        )
        assert wrong.exit_code != 0 and "DOES NOT match stored version" in wrong.message
        assert registry(rps_server, guid)[0] == "activated"  # a refused request changes nothing known


@pytest.mark.parametrize("task", ["syncclock", "synchostname", "syncip", "syncdeviceinfo", "changepassword"])
async def test_maintenance_tasks(rps_server: RpsServer, task: str) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("host-")))
    guid = device.identity.uuid
    async with serve_device(device) as endpoint:
        assert (
            await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
        ).exit_code == 0
        password = device_secret(rps_server, guid)["AMT_PASSWORD"]
        calls_before = len(rps_server.mps.requests)
        extra = ["-staticip", "192.168.77.12", "-netmask", "255.255.255.0"] if task == "syncip" else []
        result = await run_rpc(
            rpc(rps_server, "maintenance", task, "-password", password, *extra), device_endpoint=endpoint
        )
        assert result.exit_code == 0, result.message
        assert "completed" in (result.status_text or "") or "synchronized" in (result.status_text or ""), result.message
        mps_calls = [(call.method, call.path) for call in rps_server.mps.requests[calls_before:]]
        secret = device_secret(rps_server, guid)
        if task == "changepassword":
            assert secret["AMT_PASSWORD"] != password and "PENDING_AMT_PASSWORD" not in secret
            assert await digest_login_succeeds(endpoint, secret["AMT_PASSWORD"])
            assert not await digest_login_succeeds(endpoint, password)
            assert ("DELETE", f"/api/v1/devices/refresh/{guid}") in mps_calls
        else:
            assert secret["AMT_PASSWORD"] == password
        if task in ("synchostname", "syncdeviceinfo"):
            assert any(method == "PATCH" for method, _ in mps_calls), mps_calls
    assert password not in rps_server.log_text()


async def test_silent_device_fails_cleanly_with_short_timers(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    device.faults.add(Fault.silent(call="AMT_GeneralSettings.Get", times=None))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.exit_code != 0
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid)) is None
    assert ("AMT_GeneralSettings.Get", "failure") in last_run_steps(rps_server, device.identity.uuid)


async def test_client_disconnecting_mid_flow_is_recorded_and_others_carry_on(rps_server: RpsServer) -> None:
    import asyncio

    profile = create_ccm_profile(rps_server)
    slow = VirtualAmtDevice(DeviceIdentity())
    slow.faults.add(Fault.slow(call="AMT_GeneralSettings.Get", seconds=3))
    healthy = VirtualAmtDevice(DeviceIdentity())
    async with serve_device(slow) as slow_endpoint, serve_device(healthy) as healthy_endpoint:
        doomed = asyncio.create_task(
            run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=slow_endpoint)
        )
        await asyncio.sleep(1.0)
        doomed.cancel()
        result = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=healthy_endpoint)
        assert result.exit_code == 0, result.message
    assert slow.state.control_mode == ControlMode.PRE_PROVISIONING
    await asyncio.sleep(0.5)
    with psycopg.connect(rps_server.database_url.replace("postgres://", "postgresql://")) as connection:
        outcome = connection.execute(
            """select r.outcome, r.failure_cause from devices_provisioningrun r join devices_device d
               on d.id = r.device_id where d.guid = %s""",
            (slow.identity.uuid.lower(),),
        ).fetchone()
    assert outcome == ("failure", "client disconnected")


async def test_a_secret_of_unknown_origin_is_kept_until_an_admin_releases_it(rps_server: RpsServer) -> None:
    """A device with a secret in Vault that no activation here wrote (another server sharing the
    Vault, or rows lost): an unverified first activation never overwrites it, and says how to go on."""
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid
    rps_server.vault_store().create(device_path(guid), {"AMT_PASSWORD": Secret("Stale-Passw0rd!")})
    async with serve_device(device) as endpoint:
        refused = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
        assert refused.exit_code != 0
        assert f"POST /api/v1/admin/devices/{guid}/release" in refused.message
        assert device.state.control_mode == ControlMode.PRE_PROVISIONING
        assert "IPS_HostBasedSetupService.Setup" not in device.call_names
        assert device_secret(rps_server, guid) == {"AMT_PASSWORD": "Stale-Passw0rd!"}, "the old secret is untouched"

        with rps_server.api() as api:
            assert api.post(f"/devices/{guid}/release").status_code == 200
        again = await run_rpc(rpc(rps_server, "activate", "-profile", profile), device_endpoint=endpoint)
        assert again.exit_code == 0, again.message
        assert await digest_login_succeeds(endpoint, device_secret(rps_server, guid)["AMT_PASSWORD"])
    assert rps_server.secret_version(guid, 1) == {"AMT_PASSWORD": "Stale-Passw0rd!"}, "kept as a prior version"
