"""General settings, software identity, time synchronization, admin account, boot capabilities."""

from __future__ import annotations

import base64
import binascii
import time
from typing import TYPE_CHECKING

from amtsim.device.services import SERVICE_TABLE, ReturnCode, put_body
from amtsim.device.state import ADMIN_USERNAME
from amtsim.device.wsman import Properties, WsmanReply, WsmanRequest, instance_reply, method_reply

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

GENERAL_SETTINGS_READ_ONLY = frozenset({"DigestRealm", "InstanceID", "ElementName"})


@SERVICE_TABLE.register("AMT_GeneralSettings", "Get", before_activation=True)
def get_general_settings(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "AMT_GeneralSettings", device.state.general_settings.sorted_properties())


@SERVICE_TABLE.register("AMT_GeneralSettings", "Put")
def put_general_settings(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    settings = device.state.general_settings
    settings.replace_writable(put_body(request), GENERAL_SETTINGS_READ_ONLY)
    return instance_reply(request, "AMT_GeneralSettings", settings.sorted_properties())


def _software_identity(device: VirtualAmtDevice) -> list[Properties]:
    identity = device.state.identity
    versions = [
        ("Flash", identity.amt_version),
        ("Netstack", identity.amt_version),
        ("AMTApps", identity.amt_version),
        ("AMT", identity.amt_version),
        ("Sku", identity.sku),
        ("VendorID", "8086"),
        ("Build Number", identity.build),
        ("Recovery Version", identity.amt_version),
        ("Recovery Build Num", identity.build),
        ("Legacy Mode", "False"),
        ("AMT FW Core Version", identity.amt_version),
    ]
    return [
        {"InstanceID": [instance_id], "IsEntity": ["true"], "VersionString": [version]}
        for instance_id, version in versions
    ]


SERVICE_TABLE.register_enumerable("CIM_SoftwareIdentity", _software_identity, before_activation=True)


@SERVICE_TABLE.register("AMT_TimeSynchronizationService", "Get")
def get_time_synchronization(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(
        request,
        "AMT_TimeSynchronizationService",
        {
            "CreationClassName": ["AMT_TimeSynchronizationService"],
            "ElementName": ["Intel(r) AMT Time Synchronization Service"],
            "EnabledState": ["5"],
            "LocalTimeSyncEnabled": ["0"],
            "Name": ["Intel(r) AMT Time Synchronization Service"],
            "RequestedState": ["12"],
            "SystemCreationClassName": ["CIM_ComputerSystem"],
            "SystemName": ["Intel(r) AMT"],
            "TimeSource": ["0"],
        },
    )


@SERVICE_TABLE.register("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch")
def get_low_accuracy_time(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    ta0 = int(time.time()) + device.clock_offset_seconds
    device.state.time_sync.ta0 = ta0
    return method_reply(request, ReturnCode.SUCCESS, {"Ta0": [str(ta0)]})


@SERVICE_TABLE.register("AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch")
def set_high_accuracy_time(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    sync = device.state.time_sync
    try:
        ta0 = int(request.body_text("Ta0") or "")
        tm1 = int(request.body_text("Tm1") or "")
        tm2 = int(request.body_text("Tm2") or "")
    except ValueError:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    # Ta0 must be the value this device handed out, or the round-trip maths is meaningless.
    if sync.ta0 is None or ta0 != sync.ta0:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    sync.tm1, sync.tm2 = tm1, tm2
    device.clock_offset_seconds = tm2 - int(time.time())
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("AMT_AuthorizationService", "SetAdminAclEntryEx")
def set_admin_acl_entry(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if (request.body_text("Username") or "") != ADMIN_USERNAME:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    try:
        raw = base64.b64decode(request.body_text("DigestPassword") or "", validate=True)
    except (ValueError, binascii.Error):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    if len(raw) != 16:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.admin_password_ha1 = raw.hex()
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("AMT_BootCapabilities", "Get")
def get_boot_capabilities(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "AMT_BootCapabilities", device.state.boot_capabilities.sorted_properties())
