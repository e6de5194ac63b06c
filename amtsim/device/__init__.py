"""The virtual Intel AMT device: firmware state, WS-Man services and its listeners."""

from amtsim.device.device import CallRecord, VirtualAmtDevice
from amtsim.device.http_server import DeviceEndpoint, serve_device
from amtsim.device.state import ControlMode, DeviceIdentity, FirmwareState

__all__ = [
    "CallRecord",
    "ControlMode",
    "DeviceEndpoint",
    "DeviceIdentity",
    "FirmwareState",
    "VirtualAmtDevice",
    "serve_device",
]
