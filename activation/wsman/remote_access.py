"""CIRA remote access and environment detection (protocol.md §4.6 steps 5, 6, 10 and §4.10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from activation.wsman.call import Enumeration, MethodResult, WsmanCall, method_call, nothing_to_read
from activation.wsman.envelope import (
    CimObject,
    EndpointReference,
    Selector,
    amt_resource,
    delete_request,
    get_request,
    method_request,
    put_request,
)
from activation.wsman.network import AddressFormat
from activation.wsman.response import SoapEnvelope, cim_object
from rps_site.sensitive import Secret

REMOTE_ACCESS_SERVICE_URI: Final = amt_resource("AMT_RemoteAccessService")
REMOTE_ACCESS_POLICY_RULE_URI: Final = amt_resource("AMT_RemoteAccessPolicyRule")
MANAGEMENT_PRESENCE_REMOTE_SAP_URI: Final = amt_resource("AMT_ManagementPresenceRemoteSAP")
POLICY_APPLIES_TO_MPS_URI: Final = amt_resource("AMT_RemoteAccessPolicyAppliesToMPS")
USER_INITIATED_CONNECTION_SERVICE_URI: Final = amt_resource("AMT_UserInitiatedConnectionService")
ENVIRONMENT_DETECTION_URI: Final = amt_resource("AMT_EnvironmentDetectionSettingData")

USERNAME_PASSWORD_AUTHENTICATION: Final = 2
POLICY_RULE_NAMES: Final = ("User Initiated", "Alert", "Periodic")  # §4.6 step 5, in this order
PERIODIC_TRIGGER: Final = 2
USER_INITIATED_TRIGGER: Final = 0
PERIODIC_EXTENDED_DATA: Final = "AAAAAAAAABk="  # 8 bytes, network order: 25 s
BIOS_AND_OS_ENABLED: Final = 32771


def add_mp_server(
    *,
    address: str,
    address_format: AddressFormat,
    port: int,
    username: str,
    password: Secret,
    common_name: str,
) -> WsmanCall[MethodResult]:
    """§4.10 step 5. `CN` only for an IPv4 address: upstream's template writes `undefined` else."""
    parameters: list[tuple[str, str]] = [
        ("AccessInfo", address),
        ("InfoFormat", str(int(address_format))),
        ("Port", str(port)),
        ("AuthMethod", str(USERNAME_PASSWORD_AUTHENTICATION)),
        ("Username", username),
        ("Password", password.reveal()),
    ]
    if address_format is AddressFormat.IPV4:
        parameters.append(("CN", common_name))
    request = method_request(REMOTE_ACCESS_SERVICE_URI, "AddMpServer", parameters)
    return method_call("AMT_RemoteAccessService.AddMpServer", request, "AddMpServer")


def add_remote_access_policy_rule(
    *, trigger: int, tunnel_lifetime: int, extended_data: str, mps_name: str
) -> WsmanCall[MethodResult]:
    """§4.10 steps 7-8: periodic (2, 0, 25 s) then user initiated (0, 300, empty)."""
    request = method_request(
        REMOTE_ACCESS_SERVICE_URI,
        "AddRemoteAccessPolicyRule",
        [
            ("Trigger", str(trigger)),
            ("TunnelLifeTime", str(tunnel_lifetime)),
            ("ExtendedData", extended_data),
            ("MpServer", EndpointReference(MANAGEMENT_PRESENCE_REMOTE_SAP_URI, (Selector("Name", mps_name),))),
        ],
    )
    return method_call("AMT_RemoteAccessService.AddRemoteAccessPolicyRule", request, "AddRemoteAccessPolicyRule")


def delete_remote_access_policy_rule(policy_rule_name: str) -> WsmanCall[None]:
    """A 400 (rule not present) is tolerated by the caller (§4.6 step 5)."""
    return WsmanCall(
        "AMT_RemoteAccessPolicyRule.Delete",
        delete_request(REMOTE_ACCESS_POLICY_RULE_URI, Selector("PolicyRuleName", policy_rule_name)),
        nothing_to_read,
    )


@dataclass(frozen=True)
class ManagementPresenceServer:
    name: str
    access_info: str


MANAGEMENT_PRESENCE_SERVERS: Final = Enumeration(
    "AMT_ManagementPresenceRemoteSAP",
    MANAGEMENT_PRESENCE_REMOTE_SAP_URI,
    lambda instance: ManagementPresenceServer(instance.value("Name") or "", instance.value("AccessInfo") or ""),
)


def delete_management_presence_server(name: str) -> WsmanCall[None]:
    return WsmanCall(
        "AMT_ManagementPresenceRemoteSAP.Delete",
        delete_request(MANAGEMENT_PRESENCE_REMOTE_SAP_URI, Selector("Name", name)),
        nothing_to_read,
    )


@dataclass(frozen=True)
class PolicyAppliesToMps:
    policy_rule_name: str | None
    mps_name: str | None
    instance: CimObject = field(repr=False)


def _policy_applies_to_mps(instance: CimObject) -> PolicyAppliesToMps:
    policy_set = instance.reference("PolicySet")
    managed_element = instance.reference("ManagedElement")
    return PolicyAppliesToMps(
        policy_rule_name=policy_set.selector("PolicyRuleName") if policy_set is not None else None,
        mps_name=managed_element.selector("Name") if managed_element is not None else None,
        instance=instance,
    )


POLICIES_APPLIED_TO_MPS: Final = Enumeration(
    "AMT_RemoteAccessPolicyAppliesToMPS", POLICY_APPLIES_TO_MPS_URI, _policy_applies_to_mps
)


def _system_selectors(creation_class_name: str, key_name: str, key_value: str) -> tuple[Selector, ...]:
    return (
        Selector("CreationClassName", creation_class_name),
        Selector(key_name, key_value),
        Selector("SystemCreationClassName", "CIM_ComputerSystem"),
        Selector("SystemName", "Intel(r) AMT"),
    )


def put_policy_applies_to_mps(policy: PolicyAppliesToMps, *, mps_name: str) -> WsmanCall[None]:
    """§4.10 step 9 with correction 17: the header references are built explicitly, with all
    four selector keys each, instead of echoing the device's objects."""
    managed_element = EndpointReference(
        MANAGEMENT_PRESENCE_REMOTE_SAP_URI,
        _system_selectors("AMT_ManagementPresenceRemoteSAP", "Name", mps_name),
    )
    policy_set = EndpointReference(
        REMOTE_ACCESS_POLICY_RULE_URI,
        _system_selectors("AMT_RemoteAccessPolicyRule", "PolicyRuleName", policy.policy_rule_name or ""),
    )
    instance = policy.instance.with_values(
        {"ManagedElement": managed_element, "PolicySet": policy_set, "MpsType": "2", "OrderOfAccess": "0"}
    )
    request = put_request(instance, (Selector("ManagedElement", managed_element), Selector("PolicySet", policy_set)))
    return WsmanCall("AMT_RemoteAccessPolicyAppliesToMPS.Put", request, nothing_to_read)


def enable_user_initiated_connections() -> WsmanCall[MethodResult]:
    """§4.10 step 10: 32771 = BIOS and OS interfaces enabled; ReturnValue must be 0."""
    request = method_request(
        USER_INITIATED_CONNECTION_SERVICE_URI, "RequestStateChange", [("RequestedState", str(BIOS_AND_OS_ENABLED))]
    )
    return method_call("AMT_UserInitiatedConnectionService.RequestStateChange", request, "RequestStateChange")


@dataclass(frozen=True)
class EnvironmentDetection:
    instance_id: str
    detection_strings: tuple[str, ...]
    instance: CimObject = field(repr=False)


def _read_environment_detection(envelope: SoapEnvelope) -> EnvironmentDetection:
    instance = cim_object(envelope.body_element("AMT_EnvironmentDetectionSettingData"))
    return EnvironmentDetection(
        instance_id=instance.value("InstanceID") or "",
        detection_strings=tuple(instance.values("DetectionStrings")),
        instance=instance,
    )


def get_environment_detection() -> WsmanCall[EnvironmentDetection]:
    return WsmanCall(
        "AMT_EnvironmentDetectionSettingData.Get", get_request(ENVIRONMENT_DETECTION_URI), _read_environment_detection
    )


def put_environment_detection(setting: EnvironmentDetection, *, detection_strings: Sequence[str]) -> WsmanCall[None]:
    """An empty list clears the strings (§4.6 step 10); CIRA sets one unresolvable domain."""
    instance = setting.instance.with_values({"DetectionStrings": list(detection_strings)})
    return WsmanCall(
        "AMT_EnvironmentDetectionSettingData.Put",
        put_request(instance, (Selector("InstanceID", setting.instance_id),)),
        nothing_to_read,
    )
