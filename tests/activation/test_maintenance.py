"""Maintenance tasks (§4.12, corrections 14-16) against the scripted device."""

from __future__ import annotations

import base64
import hashlib
import re

from activation.flows.maintenance import MaintenanceResult, run_maintenance, sync_device_info
from activation.protocol.messages import MaintenanceTask
from activation.protocol.status import PlainStatus
from rps_site.sensitive import Secret
from tests.activation.flow_fakes import (
    AUTHORIZATION,
    TIME_SYNC,
    RecordingSecrets,
    device_request,
    method_output,
    session,
)
from tests.activation.scripted_device import (
    NO_ANSWER,
    Answer,
    ReceivedRequest,
    ScriptedDevice,
    chunked_http,
    fixture,
    ok,
)

OLD = "0ld!Passw0rd"
NEW = "N3w!Passw0rd"
GENERAL_SETTINGS = "AMT_GeneralSettings_Get_AMT15_rps.xml"  # valid realm, empty HostName


def device(*answers: Answer, password: str = OLD) -> ScriptedDevice:
    return ScriptedDevice(username="admin", password=password, answers=list(answers))


async def run(
    scripted: ScriptedDevice, method: str, secrets: RecordingSecrets | None = None, **payload: object
) -> MaintenanceResult:
    request = device_request(f"maintenance -password {OLD} {method}", currentMode=2, password=OLD, **payload)
    return await run_maintenance(
        session(scripted, password=OLD), request, secrets or RecordingSecrets(), clock=lambda: 1704586900.4
    )


def parameter(request: ReceivedRequest, name: str) -> str | None:
    match = re.search(rf"<h:{name}>([^<]*)</h:{name}>", request.body)
    return match.group(1) if match else None


def sent(scripted: ScriptedDevice, call_name: str) -> ReceivedRequest:
    return next(r for r in scripted.received if r.call_name == call_name and "authorization" in r.headers)


# --- synctime ------------------------------------------------------------------------------------


async def test_synctime() -> None:
    scripted = device(
        ok("AMT_TimeSynchronizationService_GetLowAccuracyTimeSynch.xml"),
        ok("AMT_TimeSynchronizationService_SetHighAccuracyTimeSynch.xml"),
    )
    result = await run(scripted, "--synctime")
    assert result.succeeded and result.status.as_json() == '{"Status":"synctime completed succesfully"}'
    high = sent(scripted, "AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch")
    assert (parameter(high, "Ta0"), parameter(high, "Tm1"), parameter(high, "Tm2")) == (
        "1704586865",
        "1704586900",
        "1704586900",
    )
    assert result.mps_update is None and not result.mps_refresh


async def test_synctime_reports_the_pt_status_name() -> None:
    scripted = device(method_output(TIME_SYNC, "GetLowAccuracyTimeSynch", 3))
    result = await run(scripted, "--synctime")
    assert result.status.as_json() == (
        '{"Status":"synctime failed at GET_LOW_ACCURACY_TIME_SYNCH ReturnValue PT_STATUS_INVALID_PT_MODE"}'
    )


# --- syncip --------------------------------------------------------------------------------------


def static_pull() -> bytes:
    """The recorded wired port, made static with a known address and secondary DNS."""
    return (
        fixture("AMT_EthernetPortSettings_Pull.xml")
        .replace(b"<h:DHCPEnabled>true</h:DHCPEnabled>", b"<h:DHCPEnabled>false</h:DHCPEnabled>", 1)
        .replace(
            b"<h:InstanceID>Intel(r) AMT Ethernet Port Settings 0",
            b"<h:IPAddress>192.168.6.20</h:IPAddress>"
            b"<h:SecondaryDNS>192.168.6.2</h:SecondaryDNS><h:InstanceID>Intel(r) AMT Ethernet Port Settings 0",
            1,
        )
    )


async def test_syncip_static_keeps_current_values_for_empty_fields() -> None:
    scripted = device(
        ok("AMT_EthernetPortSettings_Enumerate.xml"),
        chunked_http("200 OK", static_pull()),
        ok("AMT_EthernetPortSettings_Put.xml"),
    )
    ip = {"ipAddress": "192.168.6.50", "netmask": "", "gateway": "192.168.6.254", "primaryDns": "", "secondaryDns": ""}
    result = await run(scripted, "--syncip", ipConfiguration=ip)
    assert result.succeeded, result.steps
    put = sent(scripted, "AMT_EthernetPortSettings.Put")
    assert parameter(put, "IPAddress") == "192.168.6.50"
    assert parameter(put, "DefaultGateway") == "192.168.6.254"
    assert parameter(put, "SubnetMask") == "255.255.255.0"  # kept (correction 15)
    assert parameter(put, "PrimaryDNS") == "192.168.6.1"  # kept
    assert parameter(put, "SecondaryDNS") == "192.168.6.2"  # kept
    assert (parameter(put, "IpSyncEnabled"), parameter(put, "SharedStaticIp")) == ("false", "false")


async def test_syncip_dhcp_turns_ip_sync_on_and_drops_ip_fields() -> None:
    scripted = device(
        ok("AMT_EthernetPortSettings_Enumerate.xml"),
        ok("AMT_EthernetPortSettings_Pull.xml"),
        ok("AMT_EthernetPortSettings_Put.xml"),
    )
    result = await run(scripted, "--syncip", ipConfiguration={"ipAddress": "192.168.6.50"})
    assert result.succeeded
    put = sent(scripted, "AMT_EthernetPortSettings.Put")
    assert parameter(put, "IpSyncEnabled") == "true" and parameter(put, "SubnetMask") is None


async def test_syncip_already_synchronized() -> None:
    scripted = device(ok("AMT_EthernetPortSettings_Enumerate.xml"), chunked_http("200 OK", static_pull()))
    result = await run(scripted, "--syncip", ipConfiguration={"ipAddress": "192.168.6.20"})
    assert result.status.as_json() == (
        '{"Status":"syncip failed at PUT_ETHERNET_PORT_SETTINGS IPAddress already synchronized"}'
    )
    assert "AMT_EthernetPortSettings.Put" not in scripted.call_names


# --- synchostname --------------------------------------------------------------------------------


async def test_synchostname_puts_the_name_and_hands_mps_the_patch() -> None:
    scripted = device(ok("AMT_GeneralSettings_Get.xml"), ok("AMT_GeneralSettings_Get.xml"))
    result = await run(
        scripted, "--synchostname", hostnameInfo={"hostname": "new-host", "dnsSuffixOS": "corp.example.com"}
    )
    assert result.succeeded
    assert parameter(sent(scripted, "AMT_GeneralSettings.Put"), "HostName") == "new-host"
    assert result.mps_update == {
        "guid": "4c4c4544-0046-3610-8052-b5c04f4c5032",
        "hostname": "new-host",
        "dnsSuffix": "corp.example.com",
    }
    result.mps_failed("MPS answered 404")
    assert not result.succeeded
    assert result.status.as_json() == '{"Status":"synchostname failed at SAVE_TO_MPS MPS answered 404"}'


async def test_synchostname_already_synchronized_uses_upstreams_text() -> None:
    scripted = device(ok("AMT_GeneralSettings_Get.xml"))
    result = await run(scripted, "--synchostname", hostnameInfo={"hostname": "Test Host Name", "dnsSuffixOS": ""})
    assert result.status.as_json() == (
        '{"Status":"synchostname failed at PUT_GENERAL_SETTINGS at put AMT_GeneralSettings host name already '
        'synchronized"}'
    )
    assert result.mps_update is None


# --- syncdeviceinfo ------------------------------------------------------------------------------


def test_syncdeviceinfo_builds_the_mps_patch_without_wsman() -> None:
    request = device_request(
        "maintenance -password x --syncdeviceinfo",
        currentMode=1,
        sku="16392",
        features="AMT Pro Corporate",
        ipConfiguration={"ipAddress": "10.0.0.5"},
    )
    result = sync_device_info(request, clock=lambda: 1704586900.4)
    assert result.succeeded and result.status.as_json() == '{"Status":"syncdeviceinfo completed succesfully"}'
    assert result.mps_update == {
        "guid": "4c4c4544-0046-3610-8052-b5c04f4c5032",
        "deviceInfo": {
            "fwVersion": "16.1.27",
            "fwBuild": "2176",
            "fwSku": "16392",
            "currentMode": "1",
            "features": "AMT Pro Corporate",
            "ipAddress": "10.0.0.5",
            "lastUpdated": "2024-01-07T00:21:40.400Z",
        },
    }


# --- changepassword (correction 14) --------------------------------------------------------------


def applies_new_password(scripted: ScriptedDevice, secrets: RecordingSecrets, seen: list[list[str]]) -> Answer:
    def apply(request: ReceivedRequest) -> bytes:
        seen.append(list(secrets.events))
        scripted.password = NEW
        return ok("AMT_AuthorizationService_SetAdminAclEntryEx.xml")

    return apply


async def test_changepassword_stages_before_the_device_and_promotes_after() -> None:
    secrets = RecordingSecrets()
    seen: list[list[str]] = []
    scripted = device(ok(GENERAL_SETTINGS))
    scripted.answers.append(applies_new_password(scripted, secrets, seen))
    result = await run(scripted, f"--changepassword {NEW}", secrets)
    assert result.succeeded, result.steps
    assert result.status.as_json() == '{"Status":"changepassword completed succesfully"}'
    assert seen == [[f"write_pending {NEW}"]]  # staged before AMT was told
    assert secrets.events == [f"write_pending {NEW}", "promote_pending"]  # promoted after
    digest = sent(scripted, "AMT_AuthorizationService.SetAdminAclEntryEx")
    assert parameter(digest, "Username") == "admin"
    assert base64.b64decode(parameter(digest, "DigestPassword") or "").hex() == (
        hashlib.md5(f"admin:Digest:62FFAC181B3F3457C5B3894ED21F3E6E:{NEW}".encode()).hexdigest()
    )
    assert result.mps_refresh
    assert NEW not in repr(result) and OLD not in repr(result)


async def test_changepassword_without_a_value_uses_the_callers_generated_one() -> None:
    secrets = RecordingSecrets()
    scripted = device(ok(GENERAL_SETTINGS))
    scripted.answers.append(applies_new_password(scripted, secrets, []))
    request = device_request(f"maintenance -password {OLD} --changepassword", currentMode=2, password=OLD)
    result = await run_maintenance(session(scripted, password=OLD), request, secrets, new_password=Secret(NEW))
    assert result.succeeded and secrets.events == [f"write_pending {NEW}", "promote_pending"]


async def test_changepassword_lost_answer_promotes_only_after_a_login_with_the_new_password() -> None:
    secrets = RecordingSecrets()
    scripted = device(ok(GENERAL_SETTINGS))

    def applied_but_silent(request: ReceivedRequest) -> bytes:
        scripted.password = NEW
        raise TimeoutError

    scripted.answers += [applied_but_silent, ok(GENERAL_SETTINGS)]
    result = await run(scripted, f"--changepassword {NEW}", secrets)
    assert result.succeeded, result.steps
    assert scripted.call_names.count("AMT_AuthorizationService.SetAdminAclEntryEx") == 1  # never resent
    assert secrets.events == [f"write_pending {NEW}", "promote_pending"]


async def test_changepassword_lost_answer_and_old_password_still_works_keeps_the_old_one() -> None:
    secrets = RecordingSecrets()
    scripted = device(ok(GENERAL_SETTINGS), NO_ANSWER)
    result = await run(scripted, f"--changepassword {NEW}", secrets)
    assert not result.succeeded
    assert secrets.events == [f"write_pending {NEW}"]  # nothing promoted, nothing discarded
    assert result.status.as_json() == (
        '{"Status":"changepassword failed at SET_ADMIN_ACL_ENTRY AMT did not confirm the new password; '
        'the stored password is unchanged"}'
    )
    assert not result.mps_refresh


async def test_changepassword_refused_by_amt() -> None:
    secrets = RecordingSecrets()
    scripted = device(ok(GENERAL_SETTINGS), method_output(AUTHORIZATION, "SetAdminAclEntryEx", 2054))
    result = await run(scripted, f"--changepassword {NEW}", secrets)
    assert result.status.as_json() == (
        '{"Status":"changepassword failed at SET_ADMIN_ACL_ENTRY ReturnValue PT_STATUS_INVALID_PASSWORD"}'
    )
    assert secrets.events == [f"write_pending {NEW}"]


async def test_changepassword_vault_down_leaves_the_device_alone() -> None:
    scripted = device(ok(GENERAL_SETTINGS))
    result = await run(scripted, f"--changepassword {NEW}", RecordingSecrets(fail={"write_pending"}))
    assert result.status.as_json() == (
        '{"Status":"changepassword failed at SAVE_TO_SECRET_PROVIDER Failed to save device information to '
        'Secret Provider"}'
    )
    assert "AMT_AuthorizationService.SetAdminAclEntryEx" not in scripted.call_names


async def test_changepassword_promote_failure_keeps_the_new_password_pending() -> None:
    secrets = RecordingSecrets(fail={"promote_pending"})
    scripted = device(ok(GENERAL_SETTINGS))
    scripted.answers.append(applies_new_password(scripted, secrets, []))
    result = await run(scripted, f"--changepassword {NEW}", secrets)
    assert not result.succeeded
    assert secrets.events == [f"write_pending {NEW}"]
    assert "SAVE_TO_SECRET_PROVIDER" in result.status.as_json()


def test_mps_failure_on_refresh_names_its_state() -> None:
    result = MaintenanceResult(status=PlainStatus("x"), task=MaintenanceTask.CHANGE_PASSWORD)
    result.complete()
    result.mps_failed("MPS unreachable (ConnectError)")
    assert result.status.as_json() == '{"Status":"changepassword failed at REFRESH_MPS MPS unreachable (ConnectError)"}'
