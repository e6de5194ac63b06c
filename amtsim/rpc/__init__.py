"""The rpc-go-compatible client side of amtsim."""

from amtsim.rpc.client import DeviceLink, RpcResult, build_device_payload, run_rpc
from amtsim.rpc.commands import RpcCommand, parse_command_line
from amtsim.rpc.heci import EndpointHeci, HeciReport, HttpHeci

__all__ = [
    "DeviceLink",
    "EndpointHeci",
    "HeciReport",
    "HttpHeci",
    "RpcCommand",
    "RpcResult",
    "build_device_payload",
    "parse_command_line",
    "run_rpc",
]
