"""The virtual Intel AMT device: firmware state, WS-Man services and its listeners."""

from amtsim.device.device import CallRecord, VirtualAmtDevice
from amtsim.device.factory_roots import FACTORY_ROOT_HASHES
from amtsim.device.http_server import DeviceEndpoint, serve_device
from amtsim.device.state import ControlMode, DeviceIdentity, FirmwareState

__all__ = [
    "FACTORY_ROOT_HASHES",
    "CallRecord",
    "ControlMode",
    "DeviceEndpoint",
    "DeviceIdentity",
    "FirmwareState",
    "VirtualAmtDevice",
    "serve_device",
]
