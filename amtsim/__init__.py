"""amtsim: a virtual Intel AMT device and an rpc-go-compatible client, for tests, demos and load.

Public API (see amtsim/README.md):

    from amtsim import VirtualAmtDevice, DeviceIdentity, ControlMode, serve_device, Fault, run_rpc
"""

from amtsim.device import (
    FACTORY_ROOT_HASHES,
    CallRecord,
    ControlMode,
    DeviceEndpoint,
    DeviceIdentity,
    FirmwareState,
    VirtualAmtDevice,
    serve_device,
)
from amtsim.faults import Fault, FaultKind
from amtsim.rpc import DeviceLink, HttpHeci, RpcResult, run_rpc

__all__ = [
    "FACTORY_ROOT_HASHES",
    "CallRecord",
    "DeviceLink",
    "HttpHeci",
    "RpcResult",
    "run_rpc",
    "ControlMode",
    "DeviceEndpoint",
    "DeviceIdentity",
    "Fault",
    "FaultKind",
    "FirmwareState",
    "VirtualAmtDevice",
    "serve_device",
]
