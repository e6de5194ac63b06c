"""AMT features (protocol.md §4.8): redirection (SOL/IDER), KVM and user consent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from activation.wsman.call import MethodResult, WsmanCall, method_call, nothing_to_read
from activation.wsman.envelope import (
    CimObject,
    amt_resource,
    cim_resource,
    get_request,
    ips_resource,
    method_request,
    put_request,
)
from activation.wsman.response import SoapEnvelope, cim_object, parse_bool, parse_optional_int

REDIRECTION_SERVICE_URI: Final = amt_resource("AMT_RedirectionService")
KVM_REDIRECTION_SAP_URI: Final = cim_resource("CIM_KVMRedirectionSAP")
OPT_IN_SERVICE_URI: Final = ips_resource("IPS_OptInService")

REDIRECTION_NONE: Final = 32768
REDIRECTION_IDER: Final = 32769
REDIRECTION_SOL: Final = 32770
REDIRECTION_IDER_AND_SOL: Final = 32771
KVM_ENABLED: Final = 2
KVM_DISABLED: Final = 3
KVM_ENABLED_BUT_OFFLINE: Final = 6
OPT_IN_NONE: Final = 0
OPT_IN_KVM: Final = 1
OPT_IN_ALL: Final = 4294967295


def redirection_state(*, sol: bool, ider: bool) -> int:
    """The redirection `EnabledState` for the wanted SOL/IDER pair (§4.8 step 1 table)."""
    return REDIRECTION_NONE + (1 if ider else 0) + (2 if sol else 0)


@dataclass(frozen=True)
class RedirectionService:
    enabled_state: int | None
    listener_enabled: bool
    instance: CimObject = field(repr=False)

    @property
    def sol_enabled(self) -> bool:
        return self.enabled_state in (REDIRECTION_SOL, REDIRECTION_IDER_AND_SOL)

    @property
    def ider_enabled(self) -> bool:
        return self.enabled_state in (REDIRECTION_IDER, REDIRECTION_IDER_AND_SOL)


def _read_redirection(envelope: SoapEnvelope) -> RedirectionService:
    instance = cim_object(envelope.body_element("AMT_RedirectionService"))
    return RedirectionService(
        enabled_state=parse_optional_int(instance.value("EnabledState"), "EnabledState"),
        listener_enabled=parse_bool(instance.value("ListenerEnabled"), "ListenerEnabled"),
        instance=instance,
    )


def get_redirection_service() -> WsmanCall[RedirectionService]:
    return WsmanCall("AMT_RedirectionService.Get", get_request(REDIRECTION_SERVICE_URI), _read_redirection)


def request_redirection_state(state: int) -> WsmanCall[MethodResult]:
    request = method_request(REDIRECTION_SERVICE_URI, "RequestStateChange", [("RequestedState", str(state))])
    return method_call("AMT_RedirectionService.RequestStateChange", request, "RequestStateChange")


def put_redirection_service(
    service: RedirectionService, *, enabled_state: int, listener_enabled: bool
) -> WsmanCall[None]:
    """§4.8 step 5 and correction 3: ListenerEnabled is the profile's wanted `sol or ider or kvm`,
    not the KVM state read before the change. `AccessLog` is left out as upstream does."""
    instance = service.instance.with_values(
        {
            "EnabledState": str(enabled_state),
            "ListenerEnabled": "true" if listener_enabled else "false",
            "AccessLog": None,
        }
    )
    return WsmanCall("AMT_RedirectionService.Put", put_request(instance), nothing_to_read)


@dataclass(frozen=True)
class KvmRedirection:
    enabled_state: int | None

    @property
    def enabled(self) -> bool:
        return self.enabled_state in (KVM_ENABLED, KVM_ENABLED_BUT_OFFLINE)


def get_kvm_redirection() -> WsmanCall[KvmRedirection]:
    def read(envelope: SoapEnvelope) -> KvmRedirection:
        node = envelope.body_element("CIM_KVMRedirectionSAP")
        return KvmRedirection(parse_optional_int(node.text_of("EnabledState"), "EnabledState"))

    return WsmanCall("CIM_KVMRedirectionSAP.Get", get_request(KVM_REDIRECTION_SAP_URI), read)


def request_kvm_state(enabled: bool) -> WsmanCall[MethodResult]:
    state = KVM_ENABLED if enabled else KVM_DISABLED
    request = method_request(KVM_REDIRECTION_SAP_URI, "RequestStateChange", [("RequestedState", str(state))])
    return method_call("CIM_KVMRedirectionSAP.RequestStateChange", request, "RequestStateChange")


@dataclass(frozen=True)
class OptInService:
    opt_in_required: int | None
    instance: CimObject = field(repr=False)


def _read_opt_in(envelope: SoapEnvelope) -> OptInService:
    instance = cim_object(envelope.body_element("IPS_OptInService"))
    return OptInService(parse_optional_int(instance.value("OptInRequired"), "OptInRequired"), instance)


def get_opt_in_service() -> WsmanCall[OptInService]:
    return WsmanCall("IPS_OptInService.Get", get_request(OPT_IN_SERVICE_URI), _read_opt_in)


def put_opt_in_service(service: OptInService, *, opt_in_required: int) -> WsmanCall[None]:
    instance = service.instance.with_values({"OptInRequired": str(opt_in_required)})
    return WsmanCall("IPS_OptInService.Put", put_request(instance), nothing_to_read)
