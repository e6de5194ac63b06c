"""Deactivation, maintenance and the post-activation configuration flows of §4.6–4.12."""

from __future__ import annotations

import pytest

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.digest import admin_digest_password
from tests.amtsim.rps_double import DirectWsman, delete, epr, get, method, params, put
from tests.amtsim.scripted_rps import RpsConversation, scripted_rps
from tests.amtsim.test_fixture_shapes import (
    InProcessRps,
    _instance_xml,
    _root_blob,
    _with_mps,
    _with_policy,
    _with_wifi,
)

PASSWORD = "Adm1n!Passw0rd"
UNPROVISION = method("AMT_SetupAndConfigurationService", "Unprovision", params(ProvisioningMode="1"))


@pytest.mark.parametrize("mode", [ControlMode.CCM, ControlMode.ACM])
async def test_unprovision_returns_to_factory_state(mode: ControlMode) -> None:
    device = VirtualAmtDevice.activated(mode=mode, admin_password=PASSWORD)
    rps = InProcessRps(device)
    _with_policy(rps)
    rps.call(_with_wifi(rps))
    rps.call(method("AMT_SetupAndConfigurationService", "SetMEBxPassword", params(Password="Mebx!Passw0rd")))
    assert device.state.mps_servers and device.state.wifi_endpoint_settings
    answer = rps.call(UNPROVISION)
    assert answer.status == 200 and b"<g:ReturnValue>0</g:ReturnValue>" in answer.body
    state = device.state
    assert state.control_mode is ControlMode.PRE_PROVISIONING
    assert state.admin_password_ha1 is None and state.mebx_password is None
    assert state.mps_servers == [] and state.wifi_endpoint_settings == [] and state.remote_access_policy_rules == []
    # admin is gone; the one-time local account is back.
    assert rps.call(get("AMT_GeneralSettings")).status == 401
    local = InProcessRps(device, "$$OsAdmin", device.identity.local_system_password)
    assert local.call(get("AMT_GeneralSettings")).status == 200


def test_unprovision_rejects_other_modes() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    answer = rps.call(method("AMT_SetupAndConfigurationService", "Unprovision", params(ProvisioningMode="2")))
    assert b"<g:ReturnValue>36</g:ReturnValue>" in answer.body
    assert device.state.control_mode is ControlMode.CCM


async def test_deactivation_through_the_client() -> None:
    async def deactivate(rps: RpsConversation) -> None:
        assert rps.digest is not None
        rps.digest.username = "admin"  # deactivation ignores the payload's account name (§ corrections 19)
        answer = await rps.call(UNPROVISION)
        assert answer is not None and answer.find("ReturnValue") == "0"
        await rps.finish("success", {"Status": "Deactivated"})

    device = VirtualAmtDevice.activated(mode=ControlMode.ACM, admin_password=PASSWORD)
    async with serve_device(device) as endpoint, scripted_rps(deactivate) as rps:
        result = await run_rpc(["deactivate", "-u", rps.url, "-password", PASSWORD], device_endpoint=endpoint)
    assert rps.errors == []
    assert result.exit_code == 0 and result.status_text == "Deactivated"
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
    assert device.state.unprovision_count == 1


async def test_maintenance_synctime_and_changepassword() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "admin", PASSWORD)
        low = await rps.call(method("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch"))
        ta0 = low.find("Ta0") or ""
        wrong = await rps.call(
            method("AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch", params(Ta0="1", Tm1="2", Tm2="3"))
        )
        assert wrong.find("ReturnValue") == "36"
        good = await rps.call(
            method(
                "AMT_TimeSynchronizationService",
                "SetHighAccuracyTimeSynch",
                params(Ta0=ta0, Tm1="1900000000", Tm2="1900000000"),
            )
        )
        assert good.find("ReturnValue") == "0"
        assert device.state.time_sync.tm2 == 1900000000
        # changepassword: SetAdminAclEntryEx with base64(raw md5), then only the new password works.
        new_password = "N3w!Passw0rd"
        digest_password = admin_digest_password(realm=device.state.realm, password=new_password)
        change = method(
            "AMT_AuthorizationService", "SetAdminAclEntryEx", params(Username="admin", DigestPassword=digest_password)
        )
        assert (await rps.call(change)).find("ReturnValue") == "0"
        assert (await rps.send_once(get("AMT_GeneralSettings"))).status == 401
        rps.switch_credentials("admin", new_password)
        assert (await rps.call(get("AMT_GeneralSettings"))).status == 200
    assert device.state.admin_password_matches(new_password)


def test_general_settings_and_hostname_put() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    body = _instance_xml(device.state.general_settings).replace(
        "<h:HostName></h:HostName>", "<h:HostName>pc-9</h:HostName>"
    )
    body = body.replace("<h:DigestRealm>", "<h:DigestRealm>Digest:FFFF").replace(
        "<h:SharedFQDN>true<", "<h:SharedFQDN>false<"
    )
    answer = rps.call(put("AMT_GeneralSettings", body))
    assert answer.status == 200
    assert device.state.general_settings.get("HostName") == "pc-9"
    assert device.state.general_settings.get("SharedFQDN") == "false"
    assert device.state.general_settings.get("DigestRealm") == device.state.realm  # read-only


def _wired_put(device: VirtualAmtDevice, **changes: str | None) -> str:
    port = device.state.wired_port.copy()
    for name, value in changes.items():
        if value is None:
            port.remove(name)
        else:
            port.set(name, value)
    return put("AMT_EthernetPortSettings", _instance_xml(port), {"InstanceID": "Intel(r) AMT Ethernet Port Settings 0"})


def test_wired_network_dhcp_and_static() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    static = _wired_put(device, DHCPEnabled="false", IpSyncEnabled="true", SharedStaticIp="true", IPAddress=None)
    assert rps.call(static).status == 200
    assert device.state.wired_port.get("DHCPEnabled") == "false"
    assert device.state.wired_port.get("SharedStaticIp") == "true"
    unusable = _wired_put(device, DHCPEnabled="false", IpSyncEnabled="false", IPAddress=None, SubnetMask=None)
    assert rps.call(unusable).status == 400
    assert device.state.wired_port.get("SubnetMask") == "255.255.255.0"  # unchanged by the refused Put
    assert device.state.wired_port.get("MACAddress") == device.identity.wired_mac


def test_amt19_hangs_on_a_wired_put() -> None:
    device = VirtualAmtDevice.activated(DeviceIdentity(amt_version="19.0.5"), admin_password=PASSWORD)
    answer = InProcessRps(device).call(_wired_put(device, DHCPEnabled="true"))
    assert answer.behaviour.value == "silent"


def test_wifi_profiles_and_8021x() -> None:
    device = VirtualAmtDevice.activated(mode=ControlMode.ACM, admin_password=PASSWORD)
    rps = InProcessRps(device)
    assert b"<g:ReturnValue>0</g:ReturnValue>" in rps.call(_with_wifi(rps)).body
    assert device.state.wifi_profile_names == ["home"]
    assert device.state.wifi_endpoint_settings[0].get("PSKPassPhrase") == "Passphrase1"
    pulled = rps.call(get("AMT_WiFiPortConfigurationService"))
    assert pulled.status == 200
    # A second profile with the same priority is refused.
    assert b"<g:ReturnValue>0</g:ReturnValue>" not in rps.call(_with_wifi(rps)).body
    state_change = rps.call(method("CIM_WiFiPort", "RequestStateChange", params(RequestedState="32769")))
    assert state_change.status == 200 and device.state.wifi_port_requested_state == 32769
    ieee = (
        _instance_xml(device.state.ieee8021x).replace("<h:Enabled>3<", "<h:Enabled>2<")
        + "<h:Password>secret</h:Password>"
    )
    assert rps.call(put("IPS_IEEE8021xSettings", ieee)).status == 200
    assert device.state.ieee8021x.get("Enabled") == "2"
    assert b"secret" not in rps.call(get("IPS_IEEE8021xSettings")).body  # write-only


def _add_wifi(name: str, priority: int, *, authentication: str = "6", ieee8021x: str = "") -> str:
    settings = (
        '<h:WiFiEndpointSettingsInput xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_WiFiEndpointSettings">'
        f"<q:ElementName>{name}</q:ElementName><q:InstanceID>Intel(r) AMT:WiFi Endpoint Settings {name}</q:InstanceID>"
        f"<q:AuthenticationMethod>{authentication}</q:AuthenticationMethod><q:EncryptionMethod>4</q:EncryptionMethod>"
        f"<q:SSID>ssid-{name}</q:SSID><q:Priority>{priority}</q:Priority>"
        + ("<q:PSKPassPhrase>Passphrase1</q:PSKPassPhrase>" if authentication == "6" else "")
        + "</h:WiFiEndpointSettingsInput>"
    )
    endpoint = "<h:WiFiEndpoint>" + epr("CIM_WiFiEndpoint", {"Name": "WiFi Endpoint 0"}) + "</h:WiFiEndpoint>"
    return method("AMT_WiFiPortConfigurationService", "AddWiFiSettings", endpoint + settings + ieee8021x)


def _ieee8021x_input(**properties: str) -> str:
    body = "".join(f"<r:{name}>{value}</r:{name}>" for name, value in properties.items())
    return (
        '<h:IEEE8021xSettingsInput xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_IEEE8021xSettings">'
        f"{body}</h:IEEE8021xSettingsInput>"
    )


def test_wifi_8021x_profiles_need_their_settings_and_the_profile_count_is_limited() -> None:
    device = VirtualAmtDevice.activated(mode=ControlMode.ACM, admin_password=PASSWORD)
    rps = InProcessRps(device)
    accepted = b"<g:ReturnValue>0</g:ReturnValue>"
    # WPA2-802.1X without its 802.1X settings, or PEAP-MSCHAPv2 without a password: refused.
    assert accepted not in rps.call(_add_wifi("corp", 1, authentication="7")).body
    no_password = _ieee8021x_input(AuthenticationProtocol="2", Username="alice")
    assert accepted not in rps.call(_add_wifi("corp", 1, authentication="7", ieee8021x=no_password)).body
    peap = _ieee8021x_input(AuthenticationProtocol="2", Username="alice", Password="dot1x-pass")
    assert accepted in rps.call(_add_wifi("corp", 1, authentication="7", ieee8021x=peap)).body
    stored = device.state.wifi_ieee8021x_settings["Intel(r) AMT:WiFi Endpoint Settings corp"]
    assert (stored.get("Username"), stored.get("Password")) == ("alice", "dot1x-pass")
    # Eight profiles in all; a ninth is refused with PT_STATUS_MAX_LIMIT_REACHED.
    for priority in range(2, 9):
        assert accepted in rps.call(_add_wifi(f"home{priority}", priority)).body
    assert b"<g:ReturnValue>23</g:ReturnValue>" in rps.call(_add_wifi("ninth", 9)).body
    assert len(device.state.wifi_endpoint_settings) == 8
    # Deleting a profile deletes its 802.1X settings too.
    assert (
        rps.call(delete("CIM_WiFiEndpointSettings", {"InstanceID": "Intel(r) AMT:WiFi Endpoint Settings corp"})).status
        == 200
    )
    assert device.state.wifi_ieee8021x_settings == {}


def test_features_redirection_kvm_and_consent() -> None:
    device = VirtualAmtDevice.activated(mode=ControlMode.ACM, admin_password=PASSWORD)
    rps = InProcessRps(device)
    rps.call(method("AMT_RedirectionService", "RequestStateChange", params(RequestedState="32771")))
    rps.call(method("CIM_KVMRedirectionSAP", "RequestStateChange", params(RequestedState="2")))
    redirection = _instance_xml(device.state.redirection).replace(
        "<h:ListenerEnabled>false<", "<h:ListenerEnabled>true<"
    )
    assert rps.call(put("AMT_RedirectionService", redirection)).status == 200
    consent = _instance_xml(device.state.opt_in).replace("<h:OptInRequired>4294967295<", "<h:OptInRequired>0<")
    assert rps.call(put("IPS_OptInService", consent)).status == 200
    state = device.state
    assert (state.sol_enabled, state.ider_enabled, state.kvm_enabled, state.user_consent_required) == (
        True,
        True,
        True,
        0,
    )
    assert state.redirection.get("ListenerEnabled") == "true"


def test_ccm_cannot_drop_user_consent() -> None:
    device = VirtualAmtDevice.activated(mode=ControlMode.CCM, admin_password=PASSWORD)
    rps = InProcessRps(device)
    consent = _instance_xml(device.state.opt_in).replace("<h:OptInRequired>4294967295<", "<h:OptInRequired>0<")
    assert rps.call(put("IPS_OptInService", consent)).status == 400
    assert device.state.user_consent_required == 4294967295


def test_cira_configuration() -> None:
    device = VirtualAmtDevice.activated(mode=ControlMode.ACM, admin_password=PASSWORD)
    rps = InProcessRps(device)
    assert (
        rps.call(
            method("AMT_PublicKeyManagementService", "AddTrustedRootCertificate", params(CertificateBlob=_root_blob()))
        ).status
        == 200
    )
    _with_policy(rps)
    user_initiated = method(
        "AMT_RemoteAccessService",
        "AddRemoteAccessPolicyRule",
        "<h:Trigger>0</h:Trigger><h:TunnelLifeTime>300</h:TunnelLifeTime><h:ExtendedData></h:ExtendedData><h:MpServer>"
        + epr(
            "AMT_ManagementPresenceRemoteSAP",
            {
                "CreationClassName": "AMT_ManagementPresenceRemoteSAP",
                "Name": "Intel(r) AMT:Management Presence Server 0",
                "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT",
            },
        )
        + "</h:MpServer>",
    )
    assert b"<g:ReturnValue>0</g:ReturnValue>" in rps.call(user_initiated).body
    rps.call(method("AMT_UserInitiatedConnectionService", "RequestStateChange", params(RequestedState="32771")))
    state = device.state
    assert [rule.get("PolicyRuleName") for rule in state.remote_access_policy_rules] == ["Periodic", "User Initiated"]
    assert state.mps_servers[0].get("Password") == "Mps!Passw0rd"
    assert state.user_initiated_connection_state == 32771
    assert any(certificate.trusted_root for certificate in state.certificates)
    # Unconfiguration removes them again (§4.6 steps 5–6).
    for rule in ("User Initiated", "Alert", "Periodic"):
        rps.call(delete("AMT_RemoteAccessPolicyRule", {"PolicyRuleName": rule}))
    assert rps.call(delete("AMT_RemoteAccessPolicyRule", {"PolicyRuleName": "Alert"})).status == 400
    rps.call(delete("AMT_ManagementPresenceRemoteSAP", {"Name": "Intel(r) AMT:Management Presence Server 0"}))
    assert state.remote_access_policy_rules == [] and state.mps_servers == [] and state.policy_applies_to_mps == []


def test_add_mp_server_needs_credentials_for_password_auth() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    answer = rps.call(
        method(
            "AMT_RemoteAccessService",
            "AddMpServer",
            params(AccessInfo="mps", InfoFormat="201", Port="4433", AuthMethod="2"),
        )
    )
    assert b"<g:ReturnValue>36</g:ReturnValue>" in answer.body
    _with_mps(rps)
    assert len(device.state.mps_servers) == 1


def test_add_certificate_needs_a_device_key() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    answer = rps.call(method("AMT_PublicKeyManagementService", "AddCertificate", params(CertificateBlob=_root_blob())))
    assert b"<g:ReturnValue>36</g:ReturnValue>" in answer.body
    assert device.state.certificates == []
