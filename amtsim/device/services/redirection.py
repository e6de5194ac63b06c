"""Redirection (SOL, IDER), KVM and user consent (protocol.md §4.8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amtsim.device.services import SERVICE_TABLE, ReturnCode, put_body
from amtsim.device.state import ControlMode
from amtsim.device.wsman import SoapFault, WsmanReply, WsmanRequest, instance_reply, method_reply

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

SERVICE_READ_ONLY = frozenset({"CreationClassName", "ElementName", "Name", "SystemCreationClassName", "SystemName"})
CONSENT_ALL = "4294967295"


@SERVICE_TABLE.register("AMT_RedirectionService", "Get")
def get_redirection(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "AMT_RedirectionService", device.state.redirection.sorted_properties())


@SERVICE_TABLE.register("AMT_RedirectionService", "Put")
def put_redirection(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    redirection = device.state.redirection
    body = put_body(request)
    enabled_state = body.get("EnabledState", [redirection.get("EnabledState") or "32768"])[0]
    if enabled_state not in ("32768", "32769", "32770", "32771"):
        raise SoapFault.invalid_representation("EnabledState must be 32768-32771")
    redirection.replace_writable(body, SERVICE_READ_ONLY)
    return instance_reply(request, "AMT_RedirectionService", redirection.sorted_properties())


@SERVICE_TABLE.register("AMT_RedirectionService", "RequestStateChange")
def redirection_request_state_change(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    requested = request.body_text("RequestedState") or ""
    if requested not in ("32768", "32769", "32770", "32771"):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.redirection.set("EnabledState", requested)
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("CIM_KVMRedirectionSAP", "Get")
def get_kvm(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "CIM_KVMRedirectionSAP", device.state.kvm.sorted_properties())


@SERVICE_TABLE.register("CIM_KVMRedirectionSAP", "RequestStateChange")
def kvm_request_state_change(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    requested = request.body_text("RequestedState") or ""
    if requested not in ("2", "3"):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.kvm.set("EnabledState", requested)
    device.state.kvm.set("RequestedState", requested)
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("IPS_OptInService", "Get")
def get_opt_in(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "IPS_OptInService", device.state.opt_in.sorted_properties())


@SERVICE_TABLE.register("IPS_OptInService", "Put")
def put_opt_in(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    body = put_body(request)
    required = body.get("OptInRequired", [""])[0]
    if required not in ("0", "1", CONSENT_ALL):
        raise SoapFault.invalid_representation("OptInRequired must be 0, 1 or 4294967295")
    if device.state.control_mode is ControlMode.CCM and required != CONSENT_ALL:
        # Client control mode always requires user consent for redirection.
        raise SoapFault("e:AccessDenied", "User consent cannot be relaxed in client control mode.")
    device.state.opt_in.replace_writable(body, SERVICE_READ_ONLY | {"CanModifyOptInPolicy", "OptInState"})
    return instance_reply(request, "IPS_OptInService", device.state.opt_in.sorted_properties())
