"""AMT_TimeSynchronizationService (protocol.md §4.9 step 6, §4.12 synctime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from activation.wsman.call import MethodResult, WsmanCall, method_call
from activation.wsman.envelope import amt_resource, method_request
from activation.wsman.response import SoapEnvelope, method_output, parse_int, return_value

TIME_SYNCHRONIZATION_SERVICE: Final = amt_resource("AMT_TimeSynchronizationService")


@dataclass(frozen=True)
class LowAccuracyTime:
    return_value: int
    ta0: int | None  # AMT's clock, Unix seconds


def _read_low_accuracy_time(envelope: SoapEnvelope) -> LowAccuracyTime:
    output = method_output(envelope, "GetLowAccuracyTimeSynch")
    code = return_value(output)
    ta0_text = output.text_of("Ta0")
    return LowAccuracyTime(return_value=code, ta0=parse_int(ta0_text, "Ta0") if ta0_text else None)


def get_low_accuracy_time_synch() -> WsmanCall[LowAccuracyTime]:
    request = method_request(TIME_SYNCHRONIZATION_SERVICE, "GetLowAccuracyTimeSynch")
    return WsmanCall("AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch", request, _read_low_accuracy_time)


def set_high_accuracy_time_synch(*, ta0: int, tm1: int, tm2: int) -> WsmanCall[MethodResult]:
    request = method_request(
        TIME_SYNCHRONIZATION_SERVICE,
        "SetHighAccuracyTimeSynch",
        [("Ta0", str(ta0)), ("Tm1", str(tm1)), ("Tm2", str(tm2))],
    )
    return method_call("AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch", request, "SetHighAccuracyTimeSynch")
