"""A WS-Man call = a request, how to read its answer, and how it may be retried.

Flows build calls with the class modules (`activation.wsman.setup`, `.network`, ...) and hand them
to `AmtSession.call`; enumerations go through `AmtSession.enumerate`, which runs Enumerate then
Pull until `EndOfSequence`. Flows never see XML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from activation.wsman.envelope import CimObject, WsmanRequest, enumerate_request, pull_request
from activation.wsman.response import (
    PullPage,
    SoapEnvelope,
    WsmanParseError,
    cim_object,
    method_output,
    parse_enumerate_response,
    parse_pull_response,
    return_value,
)

T = TypeVar("T")


@dataclass(frozen=True)
class WsmanCall(Generic[T]):
    """`name` (e.g. `IPS_HostBasedSetupService.Setup`) names the call in step records and errors.

    `non_idempotent`: the call must never be sent twice (Setup, AdminSetup, UpgradeClientToAdmin:
    a resend of an applied call is refused and the outcome is lost, protocol.md correction 2).
    `timeout`: overrides the session's per-attempt timeout (15 s for TLS Puts and CommitChanges).
    """

    name: str
    request: WsmanRequest = field(repr=False)
    parse: Callable[[SoapEnvelope], T] = field(repr=False)
    non_idempotent: bool = False
    timeout: float | None = None


@dataclass(frozen=True)
class MethodResult:
    """The `<Method>_OUTPUT` of a method call; `return_value` 0 is PT_STATUS_SUCCESS."""

    return_value: int
    output: CimObject = field(repr=False)

    @property
    def succeeded(self) -> bool:
        return self.return_value == 0


def method_result_parser(method: str) -> Callable[[SoapEnvelope], MethodResult]:
    def parse(envelope: SoapEnvelope) -> MethodResult:
        output = method_output(envelope, method)
        return MethodResult(return_value=return_value(output), output=cim_object(output))

    return parse


def method_call(
    name: str,
    request: WsmanRequest,
    method: str,
    *,
    non_idempotent: bool = False,
    timeout: float | None = None,
) -> WsmanCall[MethodResult]:
    return WsmanCall(name, request, method_result_parser(method), non_idempotent=non_idempotent, timeout=timeout)


def nothing_to_read(envelope: SoapEnvelope) -> None:
    """For calls whose answer carries nothing RPS reads (Delete, some Puts): a 200 is success."""


@dataclass(frozen=True)
class Enumeration(Generic[T]):
    """An Enumerate+Pull of one class; `parse_item` turns each pulled instance into `T`."""

    class_name: str
    resource_uri: str
    parse_item: Callable[[CimObject], T] = field(repr=False)

    def enumerate_call(self) -> WsmanCall[str]:
        return WsmanCall(f"{self.class_name}.Enumerate", enumerate_request(self.resource_uri), parse_enumerate_response)

    def pull_call(self, enumeration_context: str) -> WsmanCall[PullPage]:
        return WsmanCall(
            f"{self.class_name}.Pull", pull_request(self.resource_uri, enumeration_context), parse_pull_response
        )

    def items_of(self, page: PullPage) -> list[T]:
        try:
            return [self.parse_item(item) for item in page.items]
        except WsmanParseError:
            raise
        except (ValueError, KeyError) as error:
            raise WsmanParseError(f"{self.class_name} item unreadable: {error}") from None
