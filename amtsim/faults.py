"""Fault injection for the virtual device: make a named WS-Man call misbehave.

A fault matches authenticated requests by ``"<Class>.<Operation>"`` (for example
``"IPS_HostBasedSetupService.Setup"`` or ``"AMT_GeneralSettings.Get"``), or ``"*"`` for any
call. It fires ``times`` times (``None``: forever) after skipping the first ``skip`` matches.

    device.faults.add(Fault.silent(call="IPS_HostBasedSetupService.Setup"))
    device.faults.add(Fault.return_value(call="IPS_HostBasedSetupService.AdminSetup", value=16))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar


class FaultKind(Enum):
    SILENT = "silent"  # accept the request, never answer (rpc-go relays nothing after 3 s)
    RESET = "reset"  # abort the TCP connection (RST) instead of answering
    SOAP_FAULT = "soap_fault"  # HTTP 400 with a SOAP fault body
    RETURN_VALUE = "return_value"  # 200 with a non-zero ReturnValue, nothing applied
    MALFORMED_XML = "malformed_xml"  # 200 whose XML body is cut short
    UNSAFE_XML = "unsafe_xml"  # 200 whose document carries a DTD with an entity (a hostile relay)
    SLOW = "slow"  # answer normally after a delay
    UNAUTHORIZED = "unauthorized"  # 401 with a fresh challenge even for a good digest answer


@dataclass
class Fault:
    kind: FaultKind
    call: str = "*"
    times: int | None = 1
    skip: int = 0
    delay_seconds: float = 0.0
    apply_call: bool = False  # SILENT/RESET/SLOW: run the call before misbehaving
    return_code: int = 1
    subcode: str = "e:InternalError"
    reason: str = "The service cannot comply with the request due to internal processing errors."
    matched: int = 0
    fired: int = 0

    @classmethod
    def silent(
        cls, *, skip: int = 0, call: str = "*", times: int | None = 1, hold_seconds: float = 10.0, applied: bool = False
    ) -> Fault:
        """No answer. ``applied=True`` is the lost-answer case: the call takes effect first."""
        return cls(FaultKind.SILENT, call=call, times=times, skip=skip, delay_seconds=hold_seconds, apply_call=applied)

    @classmethod
    def reset(cls, *, skip: int = 0, call: str = "*", times: int | None = 1, applied: bool = False) -> Fault:
        return cls(FaultKind.RESET, call=call, times=times, skip=skip, apply_call=applied)

    @classmethod
    def soap_fault(
        cls,
        *,
        skip: int = 0,
        call: str = "*",
        times: int | None = 1,
        subcode: str = "e:InternalError",
        reason: str | None = None,
    ) -> Fault:
        fault = cls(FaultKind.SOAP_FAULT, call=call, times=times, skip=skip, subcode=subcode)
        if reason is not None:
            fault.reason = reason
        return fault

    @classmethod
    def return_value(cls, *, skip: int = 0, call: str, value: int = 1, times: int | None = 1) -> Fault:
        return cls(FaultKind.RETURN_VALUE, call=call, times=times, skip=skip, return_code=value)

    @classmethod
    def malformed_xml(cls, *, skip: int = 0, call: str = "*", times: int | None = 1) -> Fault:
        return cls(FaultKind.MALFORMED_XML, call=call, times=times, skip=skip)

    @classmethod
    def unsafe_xml(cls, *, skip: int = 0, call: str = "*", times: int | None = 1) -> Fault:
        """The call runs, and its answer comes back with a DOCTYPE declaring an entity."""
        return cls(FaultKind.UNSAFE_XML, call=call, times=times, skip=skip)

    @classmethod
    def slow(cls, *, skip: int = 0, call: str = "*", seconds: float, times: int | None = 1) -> Fault:
        return cls(FaultKind.SLOW, call=call, times=times, skip=skip, delay_seconds=seconds, apply_call=True)

    @classmethod
    def unauthorized(cls, *, skip: int = 0, call: str = "*", times: int | None = 1) -> Fault:
        return cls(FaultKind.UNAUTHORIZED, call=call, times=times, skip=skip)

    def matches(self, call_name: str) -> bool:
        return self.call == "*" or self.call == call_name

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class ArmedFault(Protocol):
    """What a plan needs of a fault (the device's `Fault`, the EA's `EaFault`)."""

    matched: int
    fired: int

    @property
    def kind(self) -> Enum: ...

    @property
    def skip(self) -> int: ...

    def matches(self, name: str) -> bool: ...

    @property
    def exhausted(self) -> bool: ...


F = TypeVar("F", bound=ArmedFault)


@dataclass(frozen=True)
class FiredFault:
    call: str
    kind: Enum


@dataclass
class FaultPlan(Generic[F]):
    """The faults armed on one device (or virtual EA), and a log of the ones that fired."""

    faults: list[F] = field(default_factory=list)
    fired: list[FiredFault] = field(default_factory=list)

    def add(self, fault: F) -> F:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, call_name: str) -> F | None:
        """The fault to apply to this call, if any; counts the match."""
        for fault in self.faults:
            if fault.exhausted or not fault.matches(call_name):
                continue
            fault.matched += 1
            if fault.matched <= fault.skip:
                continue
            fault.fired += 1
            self.fired.append(FiredFault(call=call_name, kind=fault.kind))
            return fault
        return None
