"""Maintenance tasks of rpc-go 2.x (protocol.md §4.12 with corrections 14-16 and 19).

`amt` authenticates as `admin` with the payload's password (correction 19). Each task returns a
`MaintenanceResult`: its `status` is what the terminal message carries, `{"Status": "<task>
completed succesfully"}` or `{"Status": "<task> failed at <STATE> <text>"}` (correction 16).

MPS is the caller's: a result with `mps_update` needs `PATCH /api/v1/devices` with that body
(synchostname, syncdeviceinfo), one with `mps_refresh` needs `DELETE
/api/v1/devices/refresh/<guid>` (changepassword; a 404 is fine). When that call fails the caller
calls `result.mps_failed(detail)` before sending the terminal message.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from activation.flows.password_rotation import rotate_admin_password
from activation.flows.ports import DeviceSecretsPort, FlowResult, StepOutcome
from activation.mps_record import mps_device_info
from activation.protocol.messages import DeviceRequest, HostnameInfo, IpConfiguration, MaintenanceTask
from activation.protocol.status import PlainStatus
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, AmtSessionError
from activation.wsman import network, setup, time_sync
from activation.wsman.pt_status import return_value_text
from activation.wsman.response import WsmanFault
from rps_site.sensitive import Secret

UNKNOWN_ERROR: Final = "Unknown error has occured"  # [sic], upstream's text

# Upstream's state names (correction 16: the failure text is `<task> failed at <STATE> <text>`).
MPS_STATE: Final = {MaintenanceTask.CHANGE_PASSWORD: "REFRESH_MPS"}  # the others: SAVE_TO_MPS


@dataclass
class MaintenanceResult(FlowResult):
    task: MaintenanceTask = MaintenanceTask.SYNC_TIME
    mps_update: dict[str, Any] | None = None  # body of `PATCH /api/v1/devices`
    mps_refresh: bool = False  # `DELETE /api/v1/devices/refresh/<guid>`

    def fail_at(self, step: str, state: str, text: str, cause: str = "") -> MaintenanceResult:
        self.fail(step, f"{self.task.value} failed at {state} {text}", cause)
        return self

    def complete(self) -> MaintenanceResult:
        self.status = PlainStatus(f"{self.task.value} completed succesfully")  # [sic], upstream's text
        self.succeeded = True
        return self

    def mps_failed(self, detail: str) -> None:
        """The caller's MPS call for this task failed: the task failed (§4.12)."""
        state = MPS_STATE.get(self.task, "SAVE_TO_MPS")
        self.fail_at("MPS", state, detail)


def _result(task: MaintenanceTask) -> MaintenanceResult:
    return MaintenanceResult(status=PlainStatus(f"{task.value} failed"), task=task)


def _error_text(error: Exception) -> str:
    if isinstance(error, AmtSessionError):
        return error.failure_text
    if isinstance(error, WsmanFault):
        return "Bad Request"
    return UNKNOWN_ERROR


async def run_maintenance(
    amt: AmtSession,
    request: DeviceRequest,
    secrets: DeviceSecretsPort,
    *,
    new_password: Secret | None = None,
    clock: Callable[[], float] = time.time,
) -> MaintenanceResult:
    """The task the command line names. `new_password`: changepassword's password when the command
    gave none (`--changepassword` without a value); generate one for it."""
    task = request.command.task
    payload = request.payload
    if task is MaintenanceTask.SYNC_TIME:
        return await sync_time(amt, clock=clock)
    if task is MaintenanceTask.SYNC_IP:
        return await sync_ip(amt, payload.ip_configuration)
    if task is MaintenanceTask.SYNC_HOSTNAME:
        return await sync_hostname(amt, device_guid=request.device_guid, hostname_info=payload.hostname_info)
    if task is MaintenanceTask.SYNC_DEVICE_INFO:
        return sync_device_info(request, clock=clock)
    if task is MaintenanceTask.CHANGE_PASSWORD:
        wanted = request.command.task_argument or new_password
        current = request.amt_password
        if wanted is None or current is None:
            return _result(task).fail_at("changepassword", "SET_ADMIN_ACL_ENTRY", "no password given")
        return await change_password(
            amt, device_guid=request.device_guid, current_password=current, new_password=wanted, secrets=secrets
        )
    raise ValueError(f"not a maintenance request: {task!r}")


async def sync_time(amt: AmtSession, *, clock: Callable[[], float] = time.time) -> MaintenanceResult:
    result = _result(MaintenanceTask.SYNC_TIME)
    read = time_sync.get_low_accuracy_time_synch()
    try:
        reading = await amt.call(read)
    except CALL_ERRORS as error:
        return result.fail_at(read.name, "GET_LOW_ACCURACY_TIME_SYNCH", _error_text(error), str(error))
    tm1 = round(clock())
    if reading.return_value != 0:
        return result.fail_at(read.name, "GET_LOW_ACCURACY_TIME_SYNCH", return_value_text(reading.return_value))
    if reading.ta0 is None:
        return result.fail_at(read.name, "GET_LOW_ACCURACY_TIME_SYNCH", "invalid response: no Ta0")
    result.record(read.name, StepOutcome.SUCCESS)

    write = time_sync.set_high_accuracy_time_synch(ta0=reading.ta0, tm1=tm1, tm2=round(clock()))
    try:
        outcome = await amt.call(write)
    except CALL_ERRORS as error:
        return result.fail_at(write.name, "SET_HIGH_ACCURACY_TIME_SYNCH", _error_text(error), str(error))
    if not outcome.succeeded:
        return result.fail_at(write.name, "SET_HIGH_ACCURACY_TIME_SYNCH", return_value_text(outcome.return_value))
    result.record(write.name, StepOutcome.SUCCESS)
    return result.complete()


async def sync_ip(amt: AmtSession, target: IpConfiguration | None) -> MaintenanceResult:
    """Correction 15: rpc-go sends `""` for what the user did not give; those fields keep the
    device's current value instead of being blanked."""
    result = _result(MaintenanceTask.SYNC_IP)
    if target is None or not target.ip_address:
        return result.fail_at("syncip", "INITIAL", "invalid ip configuration")
    try:
        ports = await amt.enumerate(network.ETHERNET_PORT_SETTINGS)
    except CALL_ERRORS as error:
        return result.fail_at(
            "AMT_EthernetPortSettings.Enumerate", "ENUMERATE_ETHERNET_PORT_SETTINGS", _error_text(error), str(error)
        )
    result.record("AMT_EthernetPortSettings.Pull", StepOutcome.SUCCESS)
    wired = next((port for port in ports if port.is_wired), None)
    wireless = next((port for port in ports if port.is_wireless), None)
    put_state = "PUT_ETHERNET_PORT_SETTINGS"
    if wired is None:
        return result.fail_at("AMT_EthernetPortSettings.Put", put_state, "Device has no wired configuration settings")
    if wireless is not None and not wired.mac_address:
        return result.fail_at("AMT_EthernetPortSettings.Put", put_state, "Not applicable for wireless only device")
    if wired.ip_address == target.ip_address:
        return result.fail_at("AMT_EthernetPortSettings.Put", put_state, "IPAddress already synchronized")

    if wired.dhcp_enabled:
        put = network.put_ethernet_port_settings(
            wired, ip_sync_enabled=True, shared_static_ip=False, remove_ip_fields=True
        )
    else:
        put = network.put_ethernet_port_settings(
            wired,
            ip_sync_enabled=False,
            shared_static_ip=False,
            static_address=network.StaticAddress(
                ip_address=target.ip_address,
                subnet_mask=target.netmask or wired.subnet_mask,
                default_gateway=target.gateway or wired.default_gateway,
                primary_dns=target.primary_dns or wired.primary_dns,
                secondary_dns=target.secondary_dns or wired.secondary_dns,
            ),
        )
    try:
        await amt.call(put)
    except CALL_ERRORS as error:
        return result.fail_at(put.name, put_state, "Failed to put to ethernet port settings", str(error))
    result.record(put.name, StepOutcome.SUCCESS)
    return result.complete()


async def sync_hostname(amt: AmtSession, *, device_guid: str, hostname_info: HostnameInfo | None) -> MaintenanceResult:
    """On success `mps_update` is the PATCH body with the new hostname and the OS DNS suffix."""
    result = _result(MaintenanceTask.SYNC_HOSTNAME)
    try:
        settings = await amt.call(setup.get_general_settings())
    except CALL_ERRORS as error:
        return result.fail_at("AMT_GeneralSettings.Get", "GET_GENERAL_SETTINGS", _error_text(error), str(error))
    result.record("AMT_GeneralSettings.Get", StepOutcome.SUCCESS)

    hostname = hostname_info.hostname if hostname_info is not None else ""
    put_state = "PUT_GENERAL_SETTINGS"
    if not hostname:
        return result.fail_at(
            "AMT_GeneralSettings.Put", put_state, "at put AMT_GeneralSettings host name was not provided"
        )
    if hostname == settings.host_name:
        # The text upstream sends for this case (protocol.md §2.7).
        return result.fail_at(
            "AMT_GeneralSettings.Put", put_state, "at put AMT_GeneralSettings host name already synchronized"
        )
    put = setup.put_general_settings(settings, host_name=hostname)
    try:
        await amt.call(put)
    except CALL_ERRORS as error:
        return result.fail_at(put.name, put_state, _error_text(error), str(error))
    result.record(put.name, StepOutcome.SUCCESS)
    assert hostname_info is not None
    result.mps_update = {"guid": device_guid, "hostname": hostname, "dnsSuffix": hostname_info.dns_suffix_os}
    return result.complete()


async def change_password(
    amt: AmtSession,
    *,
    device_guid: str,
    current_password: Secret,
    new_password: Secret,
    secrets: DeviceSecretsPort,
) -> MaintenanceResult:
    """Correction 14: staged in Vault first, promoted once AMT confirms (see `password_rotation`).
    On success `mps_refresh` asks the caller to make MPS drop its cached credentials."""
    result = _result(MaintenanceTask.CHANGE_PASSWORD)
    try:
        settings = await amt.call(setup.get_general_settings())
    except CALL_ERRORS as error:
        return result.fail_at("AMT_GeneralSettings.Get", "GET_GENERAL_SETTINGS", _error_text(error), str(error))
    if not settings.has_valid_digest_realm:
        return result.fail_at(
            "AMT_GeneralSettings.Get", "GET_GENERAL_SETTINGS", f"invalid DigestRealm {settings.digest_realm}"
        )
    result.record("AMT_GeneralSettings.Get", StepOutcome.SUCCESS)

    rotation = await rotate_admin_password(
        amt,
        device_guid=device_guid,
        realm=settings.digest_realm,
        current_password=current_password,
        new_password=new_password,
        secrets=secrets,
        result=result,
    )
    if not rotation.succeeded:
        return result.fail_at("change AMT password", rotation.state, rotation.text)
    result.mps_refresh = True
    return result.complete()


def sync_device_info(request: DeviceRequest, *, clock: Callable[[], float] = time.time) -> MaintenanceResult:
    """No WS-Man at all: `mps_update` is the PATCH body built from the payload."""
    result = _result(MaintenanceTask.SYNC_DEVICE_INFO)
    now = datetime.datetime.fromtimestamp(clock(), datetime.UTC)
    result.mps_update = {"guid": request.device_guid, "deviceInfo": mps_device_info(request, now=now)}
    result.record("build MPS device info", StepOutcome.SUCCESS)
    return result.complete()
