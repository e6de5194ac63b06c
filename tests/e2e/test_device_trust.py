"""Issue #10: what an unauthenticated device frame may change, over WSS against daphne.

Every hostile request here is what an attacker can send with the stock protocol: a known GUID
claimed by a fake device that answers whatever it is asked, another tenant's name, a wrong
password, `-f`. After each one, the owner tenant's device row, its Vault secret and its MPS
record are exactly as before, the attempt is on the device's own history in the owner's tenant
(with the client address and the cause), and a healthy activation running at the same time
succeeds. Then the operable side of trust on first use: re-provisioning requests and their
release, stale secrets, tenant moves, the enrollment allow-list."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique

DEVICE_COLUMNS = (
    "tenant_id, hostname, dns_suffix, amt_version, amt_build, amt_sku, control_mode, profile_name, status, "
    "credential, activated_at"
)


def rpc(rps: RpsServer, *argv: str) -> list[str]:
    return [*argv, "-u", rps.wss_url, "-cafile", str(rps.ca_file)]


def query(rps: RpsServer, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(sql, parameters).fetchall()


@dataclass(frozen=True)
class Stored:
    """Everything stored about a device outside its history."""

    device: tuple[Any, ...] | None
    secret: tuple[int, dict[str, str]] | None
    mps: dict[str, Any] | None


def stored(rps: RpsServer, guid: str) -> Stored:
    rows = query(rps, f"select {DEVICE_COLUMNS} from devices_device where guid = %s", guid)  # noqa: S608
    secret = rps.vault_store().read(device_path(guid))
    return Stored(
        device=rows[0] if rows else None,
        secret=(secret.version, {key: value.reveal() for key, value in secret.values.items()}) if secret else None,
        mps=rps.mps.record(guid),
    )


def runs(rps: RpsServer, guid: str) -> list[tuple[Any, ...]]:
    return query(
        rps,
        """select r.action, r.outcome, r.claimed_tenant_id, r.client_address, r.failure_cause
           from devices_provisioningrun r join devices_device d on d.id = r.device_id
           where d.guid = %s order by r.id""",
        guid,
    )


async def activate_new_device(rps: RpsServer, profile: str, *extra: str) -> tuple[VirtualAmtDevice, str]:
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps, "activate", "-profile", profile, *extra), device_endpoint=endpoint)
    assert result.exit_code == 0, result.message
    secret = rps.vault_store().read(device_path(device.identity.uuid))
    assert secret is not None
    return device, secret.values["AMT_PASSWORD"].reveal()


async def claim(rps: RpsServer, fake: VirtualAmtDevice, *argv: str) -> Any:
    async with serve_device(fake) as endpoint:
        return await run_rpc(rpc(rps, *argv), device_endpoint=endpoint)


def impostor(guid: str, *, activated: bool, hostname: str) -> VirtualAmtDevice:
    """A fake device claiming `guid`: it accepts any admin password (its own is "Wrong-Guess1!")."""
    identity = DeviceIdentity(uuid=guid, hostname=hostname, amt_version="11.8.50")
    if activated:
        return VirtualAmtDevice.activated(identity, admin_password="Wrong-Guess1!")
    return VirtualAmtDevice(identity)


async def test_unverified_requests_change_nothing_stored_and_are_recorded_for_the_owner(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    victim, password = await activate_new_device(rps, profile)
    guid = victim.identity.uuid
    before = stored(rps, guid)
    assert before.device is not None and before.device[0] == "" and before.device[9] == "confirmed"
    assert before.mps is not None and before.mps["tenantId"] == ""

    wrong = "Wrong-Guess1!"
    other_tenant = "Device belongs to another tenant"
    forced_refusal = "-f cannot skip that check"
    activated, pre_provisioning = True, False
    hostile = [
        # Finding 1: another tenant's name with a guessed password.
        (activated, "PWNED-1", ["deactivate", "-password", wrong, "-tenant", "acme"], other_tenant),
        (activated, "PWNED-1", ["activate", "-profile", profile, "-password", wrong, "-tenant", "acme"], other_tenant),
        # Finding 2: refused requests in the device's own tenant.
        (activated, "PWNED-2", ["deactivate", "-password", wrong], "DOES NOT match stored version"),
        (pre_provisioning, "PWNED-2", ["activate", "-profile", "no-such"], "does not match list of available"),
        # Finding 3: a squatter claiming pre-provisioning for a device whose activation was confirmed.
        (pre_provisioning, "PWNED-3", ["activate", "-profile", profile], "re-provisioning request was recorded"),
        # -f with a password that is not the stored one: nothing stored may change.
        (activated, "PWNED-4", ["maintenance", "synchostname", "-password", wrong, "-f"], forced_refusal),
        (activated, "PWNED-4", ["maintenance", "changepassword", "-password", wrong, "-f"], forced_refusal),
    ]
    for is_activated, hostname, argv, expected in hostile:
        fake = impostor(guid, activated=is_activated, hostname=hostname)
        history = runs(rps, guid)
        healthy = VirtualAmtDevice(DeviceIdentity())
        async with serve_device(healthy) as healthy_endpoint:
            refused, concurrent = await asyncio.gather(
                claim(rps, fake, *argv),
                run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=healthy_endpoint),
            )
        assert refused.exit_code != 0 and expected in refused.message, (argv, refused.message)
        assert concurrent.exit_code == 0, concurrent.message
        assert stored(rps, guid) == before, argv
        after = runs(rps, guid)
        assert after[:-1] == history and len(after) == len(history) + 1, "one more attempt on its own history"
        action, outcome, claimed, address, cause = after[-1]
        assert (action, outcome, address) == (argv[0], "failure", "127.0.0.1") and cause, after[-1]
        assert claimed == ("acme" if "acme" in argv else "")
        changing = {"IPS_HostBasedSetupService.Setup", "AMT_AuthorizationService.SetAdminAclEntryEx"}
        assert not changing & set(fake.call_names), fake.call_names

    # A forced deactivation with another password: the device did as told; nothing stored changed.
    fake = impostor(guid, activated=True, hostname="PWNED-5")
    forced = await claim(rps, fake, "deactivate", "-password", "Wrong-Guess1!", "-f")
    assert forced.exit_code == 0 and "Stored records kept" in forced.status_text, forced.message
    assert fake.state.control_mode == ControlMode.PRE_PROVISIONING
    assert stored(rps, guid) == before

    # The owner sees every attempt, with who sent it; the tenant the attempts named sees nothing.
    with rps.api() as owner, rps.api("acme") as other:
        assert other.get(f"/devices/{guid}").status_code == 404
        assert other.delete(f"/devices/{guid}").status_code == 404
        history = owner.get(f"/devices/{guid}").json()
    assert history["tenantId"] == "" and history["hostname"] == victim.identity.hostname
    refused_runs = [run for run in history["runs"] if run["outcome"] == "failure"]
    assert len(refused_runs) == len(hostile)
    assert all(run["clientAddress"] == "127.0.0.1" and run["failureCause"] for run in refused_runs)
    assert {run["namedThisTenant"] for run in refused_runs} == {True, False}
    assert "acme" not in str(history), "another tenant's name is never shown"

    # The owner, who knows the password, still deactivates it.
    async with serve_device(victim) as endpoint:
        done = await run_rpc(rpc(rps, "deactivate", "-password", password), device_endpoint=endpoint)
    assert done.exit_code == 0 and done.status_text == "Deactivated", done.message
    after = stored(rps, guid)
    assert after.secret is None and after.mps is None and after.device is not None
    assert (after.device[0], after.device[8], after.device[9]) == ("", "deactivated", "unknown")


async def test_a_locally_reset_device_is_refused_until_an_admin_releases_it(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    device, first_password = await activate_new_device(rps, profile)
    guid = device.identity.uuid
    before = stored(rps, guid)
    assert before.secret is not None

    device.return_to_pre_provisioning()  # MEBx "Full Unprovision" or a CMOS clear: RPS is not told
    device.calls.clear()
    async with serve_device(device) as endpoint:
        refused = await run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=endpoint)
        assert refused.exit_code != 0
        assert "re-provisioning request was recorded" in refused.message
        assert f"POST /api/v1/admin/devices/{guid}/release" in refused.message
        assert device.state.control_mode == ControlMode.PRE_PROVISIONING
        assert "IPS_HostBasedSetupService.Setup" not in device.call_names
        assert stored(rps, guid) == before

        with rps.api() as owner, rps.api("acme") as other:
            listed = owner.get("/devices/reprovisioning-requests?state=open&$count=true").json()
            mine = [item for item in listed["data"] if item["guid"] == guid]
            assert len(mine) == 1 and mine[0]["state"] == "open" and mine[0]["clientAddress"] == "127.0.0.1"
            assert mine[0]["attempts"] == 1 and mine[0]["profileName"] == profile
            assert guid not in str(other.get("/devices/reprovisioning-requests").json())
            assert other.post(f"/devices/{guid}/release").status_code == 404
            released = owner.post(f"/devices/{guid}/release")
            assert released.status_code == 200, released.text
            assert released.json()["state"] == "released"
            assert released.json()["releasedSecretVersion"] == before.secret[0]
            assert owner.post(f"/devices/{guid}/release").status_code == 404, "one release per request"

        again = await run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=endpoint)
        assert again.exit_code == 0, again.message
    after = stored(rps, guid)
    assert after.secret is not None and after.secret[0] == before.secret[0] + 1
    assert after.secret[1]["AMT_PASSWORD"] != first_password
    assert device.state.admin_password_matches(after.secret[1]["AMT_PASSWORD"])
    # The old secret stays in Vault as the prior version.
    assert rps.secret_version(guid, before.secret[0])["AMT_PASSWORD"] == first_password
    assert after.device is not None and after.device[9] == "confirmed"
    with rps.api() as owner:
        history = owner.get(f"/devices/{guid}").json()
        request = owner.get("/devices/reprovisioning-requests?state=completed").json()
    steps = {step["name"]: step["detail"] for step in history["runs"][0]["steps"]}
    assert steps["replace stored device secret"].startswith("released for re-provisioning by ")
    assert [item["guid"] for item in request if item["guid"] == guid] == [guid]


async def test_a_secret_no_activation_confirmed_is_replaced_and_the_replacement_recorded(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid
    # Setup's answer is lost and the mode cannot be read: the stored secret may be in use, so it stays.
    device.faults.add(Fault.silent(call="IPS_HostBasedSetupService.Setup", hold_seconds=6))
    device.faults.add(Fault.soap_fault(call="IPS_HostBasedSetupService.Get"))
    async with serve_device(device) as endpoint:
        lost = await run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=endpoint)
        assert lost.exit_code != 0
        stale = stored(rps, guid)
        assert stale.secret is not None and stale.device is not None
        assert (stale.device[0], stale.device[9]) == (None, "unconfirmed"), "unbound, its secret never confirmed"

        again = await run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=endpoint)
        assert again.exit_code == 0, again.message
    after = stored(rps, guid)
    assert after.secret is not None and after.secret[0] == stale.secret[0] + 1
    assert rps.secret_version(guid, stale.secret[0]) == stale.secret[1], "the replaced secret is a prior version"
    assert device.state.admin_password_matches(after.secret[1]["AMT_PASSWORD"])
    assert after.device is not None and (after.device[0], after.device[9]) == ("", "confirmed")
    steps = query(
        rps,
        """select s.detail from devices_runstep s join devices_provisioningrun r on r.id = s.run_id
           join devices_device d on d.id = r.device_id where d.guid = %s and s.name = 'replace stored device secret'""",
        guid,
    )
    assert len(steps) == 1 and "never confirmed it" in steps[0][0] and f"version {stale.secret[0]}" in steps[0][0]


async def test_an_admin_moves_a_device_to_another_tenant(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    device, password = await activate_new_device(rps, profile)
    guid = device.identity.uuid
    before = stored(rps, guid)
    with rps.api() as owner, rps.api("acme") as acme:
        assert acme.post(f"/devices/{guid}/move", json={"tenantId": "acme"}).status_code == 404
        invalid = owner.post(f"/devices/{guid}/move", json={"tenantId": 7})
        assert invalid.status_code == 400 and invalid.json()["errors"][0]["path"] == "tenantId"
        assert owner.post(f"/devices/{guid}/move", json={"tenantId": ""}).status_code == 400
        assert stored(rps, guid) == before
        moved = owner.post(f"/devices/{guid}/move", json={"tenantId": "acme"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["tenantId"] == "acme"
        assert owner.get(f"/devices/{guid}").status_code == 404
        assert acme.get(f"/devices/{guid}").json()["hostname"] == device.identity.hostname
    after = stored(rps, guid)
    assert after.secret == before.secret, "the secret is global and stays"
    assert after.mps is not None and before.mps is not None
    assert after.mps == {**before.mps, "tenantId": "acme"}, "MPS holds the same record under the new tenant"

    async with serve_device(device) as endpoint:
        old_tenant = await run_rpc(rpc(rps, "deactivate", "-password", password), device_endpoint=endpoint)
        assert old_tenant.exit_code != 0 and "Device belongs to another tenant" in old_tenant.message
        assert stored(rps, guid) == after
        done = await run_rpc(rpc(rps, "deactivate", "-password", password, "-tenant", "acme"), device_endpoint=endpoint)
    assert done.exit_code == 0 and done.status_text == "Deactivated", done.message
    assert rps.mps.record(guid) is None


async def test_the_enrollment_allow_list_refuses_unknown_devices_where_it_is_required(rps_server: RpsServer) -> None:
    rps = rps_server
    vetted_profile = create_ccm_profile(rps, tenant_id="vetted")
    stranger = VirtualAmtDevice(DeviceIdentity())
    guid = stranger.identity.uuid
    async with serve_device(stranger) as endpoint:
        refused = await run_rpc(
            rpc(rps, "activate", "-profile", vetted_profile, "-tenant", "vetted"), device_endpoint=endpoint
        )
        assert refused.exit_code != 0 and "accepts enrolled devices only" in refused.message
        assert stranger.call_names == [], "the device is never asked anything"
        assert stored(rps, guid) == Stored(None, None, None), "no row, no secret, no MPS record for a stranger"

        with rps.api("vetted") as vetted, rps.api() as default:
            bad = vetted.post("/devices/enrollment", json=[guid, "../../devices/x", 5])
            assert bad.status_code == 400
            assert [error["path"] for error in bad.json()["errors"]] == ["[1]", "[2]"]
            assert vetted.post("/devices/enrollment", json={"guids": [guid]}).status_code == 400
            added = vetted.post("/devices/enrollment", json=[guid.upper()])
            assert added.status_code == 201 and added.json() == {"added": 1, "alreadyEnrolled": 0}
            assert vetted.post("/devices/enrollment", json=[guid]).json() == {"added": 0, "alreadyEnrolled": 1}
            assert [item["guid"] for item in vetted.get("/devices/enrollment").json()] == [guid]
            assert default.get("/devices/enrollment").json() == [], "enrollment is per tenant"

        enrolled = await run_rpc(
            rpc(rps, "activate", "-profile", vetted_profile, "-tenant", "vetted"), device_endpoint=endpoint
        )
        assert enrolled.exit_code == 0, enrolled.message
    assert stored(rps, guid).device[0] == "vetted"  # type: ignore[index]

    # Where the setting is off (the default tenant), an unknown device activates as before.
    await activate_new_device(rps, create_ccm_profile(rps))


async def test_force_without_a_password_gets_upstreams_text(rps_server: RpsServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Finding 7. rpc-go never sends an activated device's request without a password; a hostile
    client does: amtsim's client is made to send an empty one."""
    import dataclasses

    from amtsim.rpc import client

    build = client.build_device_payload

    def without_password(command, heci):  # type: ignore[no-untyped-def]
        payload = build(dataclasses.replace(command, password="placeholder"), heci)
        return {**payload, "password": ""}

    rps = rps_server
    profile = create_ccm_profile(rps)
    device, _ = await activate_new_device(rps, profile)
    before = stored(rps, device.identity.uuid)
    monkeypatch.setattr(client, "build_device_payload", without_password)
    async with serve_device(device) as endpoint:
        deactivation = await run_rpc(rpc(rps, "deactivate", "-f"), device_endpoint=endpoint)
        maintenance = await run_rpc(rpc(rps, "maintenance", "syncclock", "-f"), device_endpoint=endpoint)
    assert deactivation.exit_code != 0 and deactivation.status_text == "Unable to authenticate with AMT"
    assert maintenance.status_text == "synctime failed at GET_LOW_ACCURACY_TIME_SYNCH Unable to authenticate with AMT"
    assert device.state.control_mode == ControlMode.CCM
    assert stored(rps, device.identity.uuid) == before
    assert "AttributeError" not in rps.log_text() and "internal error" not in rps.log_text()


async def test_a_lost_unprovision_answer_is_settled_by_the_device_not_by_a_resend(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    for applied in (False, True):
        device, password = await activate_new_device(rps, profile)
        guid = device.identity.uuid
        device.faults.add(Fault.silent(call="AMT_SetupAndConfigurationService.Unprovision", applied=applied))
        async with serve_device(device) as endpoint:
            result = await run_rpc(rpc(rps, "deactivate", "-password", password), device_endpoint=endpoint)
        assert device.call_names.count("AMT_SetupAndConfigurationService.Unprovision") == 1, "never resent"
        if applied:
            assert result.exit_code == 0 and result.status_text == "Deactivated", result.message
            assert device.state.control_mode == ControlMode.PRE_PROVISIONING
            assert stored(rps, guid).secret is None and rps.mps.record(guid) is None
        else:
            assert result.exit_code != 0 and result.status_text == "Unknown error has occured", result.message
            assert device.state.control_mode == ControlMode.CCM
            assert stored(rps, guid).secret is not None, "a device still activated keeps its password"


async def test_deactivation_with_mps_down_says_so(rps_server: RpsServer) -> None:
    rps = rps_server
    device, password = await activate_new_device(rps, create_ccm_profile(rps))
    rps.mps.status_by_method["DELETE"] = 503
    try:
        async with serve_device(device) as endpoint:
            result = await run_rpc(rpc(rps, "deactivate", "-password", password), device_endpoint=endpoint)
    finally:
        del rps.mps.status_by_method["DELETE"]
    assert result.exit_code == 0 and result.status_text == "Deactivated. MPS Unavailable.", result.message
    assert stored(rps, device.identity.uuid).secret is None


async def test_hostile_xml_ends_the_session_over_wss(rps_server: RpsServer) -> None:
    rps = rps_server
    profile = create_ccm_profile(rps)
    device = VirtualAmtDevice(DeviceIdentity())
    device.faults.add(Fault.unsafe_xml(call="AMT_EthernetPortSettings.Put"))
    async with serve_device(device) as endpoint:
        result = await run_rpc(rpc(rps, "activate", "-profile", profile), device_endpoint=endpoint)
    assert result.exit_code != 0 and "sent unsafe XML" in (result.status_text or ""), result.message
    assert device.call_names[-1] == "AMT_EthernetPortSettings.Put"
    cause = runs(rps, device.identity.uuid)[-1][4]
    assert cause.startswith("security event: refused unsafe XML")
