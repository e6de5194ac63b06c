"""Dispatch of WS-Man calls to the service modules, keyed by class and operation.

Each service module registers its handlers on ``SERVICE_TABLE`` at import time. Enumerable
classes register a lister once and get Enumerate/Pull for free.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amtsim.device.wsman import (
    Properties,
    SoapFault,
    WsmanReply,
    WsmanRequest,
    enumerate_reply,
    local_name,
    parse_properties,
    pull_reply,
)

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

Handler = Callable[["VirtualAmtDevice", WsmanRequest], WsmanReply]
Lister = Callable[["VirtualAmtDevice"], list[Properties]]


class ReturnCode:
    """PT_STATUS values the simulated firmware returns (AMT SDK names)."""

    SUCCESS = 0
    INTERNAL_ERROR = 1
    INVALID_PT_MODE = 3
    NOT_PERMITTED = 16
    MAX_LIMIT_REACHED = 23  # no room left (e.g. a ninth Wi-Fi profile)
    INVALID_PARAMETER = 36


class DeviceHangs(Exception):  # noqa: N818 - it is a behaviour, not an error
    """The firmware accepts the request and never answers (AMT 19's wired Put, for one)."""


@dataclass
class ServiceTable:
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    listers: dict[str, Lister] = field(default_factory=dict)
    # Calls the one-time local system account may make before activation.
    pre_provisioning_calls: set[tuple[str, str]] = field(default_factory=set)

    def register(
        self, class_name: str, operation: str, *, before_activation: bool = False
    ) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.handlers[(class_name, operation)] = handler
            if before_activation:
                self.pre_provisioning_calls.add((class_name, operation))
            return handler

        return decorator

    def register_enumerable(self, class_name: str, lister: Lister, *, before_activation: bool = False) -> None:
        self.listers[class_name] = lister
        self.handlers[(class_name, "Enumerate")] = _enumerate
        self.handlers[(class_name, "Pull")] = _pull
        if before_activation:
            self.pre_provisioning_calls.update({(class_name, "Enumerate"), (class_name, "Pull")})

    def dispatch(self, device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
        key = (request.class_name, request.operation)
        handler = self.handlers.get(key)
        if handler is None:
            known_class = any(class_name == request.class_name for class_name, _ in self.handlers)
            if known_class:
                raise SoapFault.action_not_supported(request.action)
            raise SoapFault.destination_unreachable()
        if not device.state.is_provisioned and key not in self.pre_provisioning_calls:
            raise SoapFault("e:AccessDenied", "The sender was not authorized to access the resource.")
        return handler(device, request)


def _enumerate(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    context = f"{secrets.token_hex(4).upper()}-0000-0000-0000-000000000000"
    device.enumerations[context] = request.class_name
    return enumerate_reply(request, context)


def _pull(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    context = request.enumeration_context()
    if context is None or device.enumerations.get(context) != request.class_name:
        raise SoapFault("e:InvalidEnumerationContext", "The supplied enumeration context is invalid.")
    # One Pull returns everything (MaxElements 999), so the context is spent.
    del device.enumerations[context]
    items = SERVICE_TABLE.listers[request.class_name](device)
    return pull_reply(request, request.class_name, items)


SERVICE_TABLE = ServiceTable()


def require_selector(request: WsmanRequest, name: str) -> str:
    value = request.selectors.get(name)
    if not isinstance(value, str) or not value:
        raise SoapFault.invalid_selectors()
    return value


def put_body(request: WsmanRequest) -> Properties:
    if request.body is None:
        raise SoapFault.invalid_representation("Put needs a body")
    if local_name(request.body.tag) != request.class_name:
        raise SoapFault.invalid_representation(f"expected {request.class_name}")
    return parse_properties(request.body)


def load_all() -> ServiceTable:
    """Import every service module so that their handlers are registered."""
    from amtsim.device.services import (  # noqa: F401
        certificates,
        general,
        network,
        redirection,
        remote_access,
        setup,
    )

    return SERVICE_TABLE
