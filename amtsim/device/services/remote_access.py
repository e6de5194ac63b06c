"""CIRA: MPS servers, remote access policies, user-initiated connections, environment detection
(protocol.md §4.6 steps 5–6 and 10, §4.10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amtsim.device.services import SERVICE_TABLE, ReturnCode, put_body, require_selector
from amtsim.device.state import CimInstance, management_presence_reference, policy_rule_reference
from amtsim.device.wsman import (
    EndpointReference,
    SoapFault,
    WsmanReply,
    WsmanRequest,
    empty_reply,
    instance_reply,
    method_reply,
)

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

POLICY_RULE_NAMES = {"0": "User Initiated", "1": "Alert", "2": "Periodic"}
MPS_PUBLIC_PROPERTIES = (
    "AccessInfo",
    "CN",
    "CreationClassName",
    "ElementName",
    "InfoFormat",
    "Name",
    "Port",
    "SystemCreationClassName",
    "SystemName",
)


SERVICE_TABLE.register_enumerable(
    "AMT_ManagementPresenceRemoteSAP",
    lambda device: [
        {name: values for name, values in server.sorted_properties().items() if name in MPS_PUBLIC_PROPERTIES}
        for server in device.state.mps_servers
    ],
)
SERVICE_TABLE.register_enumerable(
    "AMT_RemoteAccessPolicyAppliesToMPS",
    lambda device: [entry.sorted_properties() for entry in device.state.policy_applies_to_mps],
)


@SERVICE_TABLE.register("AMT_RemoteAccessService", "AddMpServer")
def add_mp_server(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    access_info = request.body_text("AccessInfo") or ""
    info_format = request.body_text("InfoFormat") or ""
    port = request.body_text("Port") or ""
    auth_method = request.body_text("AuthMethod") or ""
    if not access_info or info_format not in ("3", "4", "201") or not port.isdigit() or auth_method not in ("1", "2"):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    if auth_method == "2" and not (request.body_text("Username") and request.body_text("Password")):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    name = f"Intel(r) AMT:Management Presence Server {len(device.state.mps_servers)}"
    device.state.mps_servers.append(
        CimInstance(
            "AMT_ManagementPresenceRemoteSAP",
            {
                "AccessInfo": access_info,
                "AuthMethod": auth_method,
                "CN": request.body_text("CN") or access_info,
                "CreationClassName": "AMT_ManagementPresenceRemoteSAP",
                "ElementName": "Intel(r) AMT:Management Presence Server",
                "InfoFormat": info_format,
                "Name": name,
                "Password": request.body_text("Password") or "",
                "Port": port,
                "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT",
                "Username": request.body_text("Username") or "",
            },
        )
    )
    return method_reply(request, ReturnCode.SUCCESS, {"MpServer": [management_presence_reference(name)]})


@SERVICE_TABLE.register("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule")
def add_remote_access_policy_rule(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    rule_name = POLICY_RULE_NAMES.get(request.body_text("Trigger") or "")
    servers = [value for value in request.body_properties().get("MpServer", []) if isinstance(value, EndpointReference)]
    if rule_name is None or not servers:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    server_name = servers[0].selectors.get("Name")
    if not any(server.get("Name") == server_name for server in state.mps_servers):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    if any(rule.get("PolicyRuleName") == rule_name for rule in state.remote_access_policy_rules):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    assert isinstance(server_name, str)
    state.remote_access_policy_rules.append(
        CimInstance(
            "AMT_RemoteAccessPolicyRule",
            {
                "CreationClassName": "AMT_RemoteAccessPolicyRule",
                "ElementName": rule_name,
                "ExtendedData": request.body_text("ExtendedData") or "",
                "PolicyRuleName": rule_name,
                "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT",
                "Trigger": request.body_text("Trigger") or "",
                "TunnelLifeTime": request.body_text("TunnelLifeTime") or "0",
            },
        )
    )
    state.policy_applies_to_mps.append(
        CimInstance(
            "AMT_RemoteAccessPolicyAppliesToMPS",
            {
                "ManagedElement": management_presence_reference(server_name),
                "MpsType": "0",
                "OrderOfAccess": "0",
                "PolicySet": policy_rule_reference(rule_name),
            },
        )
    )
    return method_reply(request, ReturnCode.SUCCESS, {"PolicyRule": [policy_rule_reference(rule_name)]})


def _remove_policies(device: VirtualAmtDevice, *, rule_name: str | None = None, server_name: str | None = None) -> None:
    def keep(entry: CimInstance) -> bool:
        policy_set = entry.values("PolicySet")[0]
        managed = entry.values("ManagedElement")[0]
        assert isinstance(policy_set, EndpointReference) and isinstance(managed, EndpointReference)
        if rule_name is not None and policy_set.selectors.get("PolicyRuleName") == rule_name:
            return False
        return not (server_name is not None and managed.selectors.get("Name") == server_name)

    device.state.policy_applies_to_mps = [entry for entry in device.state.policy_applies_to_mps if keep(entry)]


@SERVICE_TABLE.register("AMT_RemoteAccessPolicyRule", "Delete")
def delete_remote_access_policy_rule(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    rule_name = require_selector(request, "PolicyRuleName")
    state = device.state
    remaining = [rule for rule in state.remote_access_policy_rules if rule.get("PolicyRuleName") != rule_name]
    if len(remaining) == len(state.remote_access_policy_rules):
        # Deleting a rule that is not there is a 400; servers tolerate it (§4.6 step 5).
        raise SoapFault.invalid_selectors()
    state.remote_access_policy_rules = remaining
    _remove_policies(device, rule_name=rule_name)
    return empty_reply(request)


@SERVICE_TABLE.register("AMT_ManagementPresenceRemoteSAP", "Delete")
def delete_management_presence_server(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    name = require_selector(request, "Name")
    state = device.state
    remaining = [server for server in state.mps_servers if server.get("Name") != name]
    if len(remaining) == len(state.mps_servers):
        raise SoapFault.invalid_selectors()
    state.mps_servers = remaining
    _remove_policies(device, server_name=name)
    return empty_reply(request)


def _reference_selector(request: WsmanRequest, name: str, required_keys: tuple[str, ...]) -> EndpointReference:
    reference = request.selectors.get(name)
    if not isinstance(reference, EndpointReference) or any(key not in reference.selectors for key in required_keys):
        raise SoapFault.invalid_selectors()
    return reference


@SERVICE_TABLE.register("AMT_RemoteAccessPolicyAppliesToMPS", "Put")
def put_policy_applies_to_mps(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    # AMT addresses this association by two full references, four selectors each (§4.10 step 9).
    keys = ("CreationClassName", "SystemCreationClassName", "SystemName")
    managed = _reference_selector(request, "ManagedElement", (*keys, "Name"))
    policy_set = _reference_selector(request, "PolicySet", (*keys, "PolicyRuleName"))
    body = put_body(request)
    for entry in device.state.policy_applies_to_mps:
        entry_policy = entry.values("PolicySet")[0]
        entry_managed = entry.values("ManagedElement")[0]
        assert isinstance(entry_policy, EndpointReference) and isinstance(entry_managed, EndpointReference)
        if (
            entry_policy.selectors.get("PolicyRuleName") == policy_set.selectors["PolicyRuleName"]
            and entry_managed.selectors.get("Name") == managed.selectors["Name"]
        ):
            for name in ("MpsType", "OrderOfAccess"):
                value = body.get(name)
                if value and isinstance(value[0], str):
                    entry.set(name, value[0])
            return empty_reply(request)
    raise SoapFault.invalid_selectors()


@SERVICE_TABLE.register("AMT_UserInitiatedConnectionService", "RequestStateChange")
def user_initiated_connection_state_change(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    requested = request.body_text("RequestedState") or ""
    if requested not in ("32768", "32769", "32770", "32771"):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.user_initiated_connection_state = int(requested)
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("AMT_EnvironmentDetectionSettingData", "Get")
def get_environment_detection(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(
        request, "AMT_EnvironmentDetectionSettingData", device.state.environment_detection.sorted_properties()
    )


@SERVICE_TABLE.register("AMT_EnvironmentDetectionSettingData", "Put")
def put_environment_detection(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    settings = device.state.environment_detection
    if require_selector(request, "InstanceID") != settings.get("InstanceID"):
        raise SoapFault.invalid_selectors()
    body = put_body(request)
    # An empty DetectionStrings element means "no strings".
    body["DetectionStrings"] = [value for value in body.get("DetectionStrings", []) if value]
    if not body["DetectionStrings"]:
        del body["DetectionStrings"]
    settings.replace_writable(body, frozenset({"InstanceID", "ElementName"}))
    return instance_reply(request, "AMT_EnvironmentDetectionSettingData", settings.sorted_properties())
