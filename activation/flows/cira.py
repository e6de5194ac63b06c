"""CIRA configuration (protocol.md §4.10 with corrections 11, 12 and 17): the MPS root
certificate, the per-device MPS password (in Vault before AMT is told to use it), MPS
registration with the CIRA username, the MPS server, the periodic and user-initiated policies,
and environment detection that makes AMT always connect through CIRA."""

from __future__ import annotations

from typing import Any

from activation.flows.components import ComponentFailed, MpsPort, cause_of
from activation.flows.ports import DeviceSecretsPort, ProgressPort
from activation.plan.configuration_plan import CiraPlan
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.unexpected_failures import unexpected_failure
from activation.wsman import certificates, remote_access
from activation.wsman.network import AddressFormat


async def configure_cira(
    amt: AmtSession,
    plan: CiraPlan,
    *,
    mps_record: dict[str, Any],
    secrets: DeviceSecretsPort,
    mps: MpsPort | None,
    device_guid: str,
    progress: ProgressPort,
) -> None:
    """Raises `ComponentFailed` with the status text of the step that failed."""
    await progress.report("Configuring CIRA remote access")
    if not plan.root_certificate_der:
        raise ComponentFailed("Failed to add root certificate", "the CIRA config's MPS root certificate is unreadable")
    try:
        address_format = AddressFormat(plan.address_format)
    except ValueError:
        raise ComponentFailed("Failed to add mps", f"server address format {plan.address_format} is unknown") from None

    # 2. The MPS root, so AMT can verify the server it dials.
    try:
        added = await amt.call(certificates.add_trusted_root_certificate(plan.root_certificate_der))
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to add root certificate", cause_of(error)) from None
    if not added.succeeded:
        raise ComponentFailed("Failed to add root certificate", f"ReturnValue {added.return_value}")

    # 3. The MPS password reaches Vault before AMT is told to use it (MPS reads it there).
    try:
        await secrets.write_mps_password(device_guid, plan.mps_password)
    except Exception as error:
        raise ComponentFailed("Failed to save MPS password to secret provider", unexpected_failure(error)) from None

    # 4. MPS learns the CIRA username (correction 12: a failure stops CIRA and says why).
    if mps is not None:
        outcome = await mps.register_device({**mps_record, "mpsusername": plan.username})
        if not getattr(outcome, "ok", False):
            raise ComponentFailed("Failed to save device to mps", str(getattr(outcome, "detail", "")))

    server_name = await _add_mps_server(amt, plan, address_format)  # 5-6
    await _add_connection_policies(amt, server_name)  # 7-9

    # 10. User-initiated connections from BIOS and OS.
    try:
        enabled = await amt.call(remote_access.enable_user_initiated_connections())
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to enable user initiated connections", cause_of(error)) from None
    if not enabled.succeeded:
        raise ComponentFailed("Failed to enable user initiated connections", f"ReturnValue {enabled.return_value}")

    # 11. A domain that never resolves: AMT always considers itself outside and uses CIRA.
    try:
        detection = await amt.call(remote_access.get_environment_detection())
        await amt.call(remote_access.put_environment_detection(detection, detection_strings=[plan.detection_domain]))
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to set environment detection", cause_of(error)) from None
    await progress.report("CIRA configuration completed")


async def _add_mps_server(amt: AmtSession, plan: CiraPlan, address_format: AddressFormat) -> str:
    """Steps 5-6: the MPS server, and the name AMT gave it."""
    try:
        result = await amt.call(
            remote_access.add_mp_server(
                address=plan.server_address,
                address_format=address_format,
                port=plan.port,
                username=plan.username,
                password=plan.mps_password,
                common_name=plan.common_name or plan.server_address,
            )
        )
        if not result.succeeded:
            raise ComponentFailed("Failed to add mps", f"ReturnValue {result.return_value}")
        servers = await amt.enumerate(remote_access.MANAGEMENT_PRESENCE_SERVERS)
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to add mps", cause_of(error)) from None
    server = next((entry for entry in servers if entry.access_info == plan.server_address), None)
    server = server or (servers[0] if servers else None)
    if server is None:
        raise ComponentFailed("Failed to add mps", "AMT lists no MPS server")
    return server.name


async def _add_connection_policies(amt: AmtSession, server_name: str) -> None:
    """Steps 7-9: the connection policies, applied to the MPS reached both ways."""
    # 7-8. Periodic (every 25 s) and user-initiated connection policies.
    for name, trigger, lifetime, extended_data in (
        ("periodic", remote_access.PERIODIC_TRIGGER, 0, remote_access.PERIODIC_EXTENDED_DATA),
        ("user initiated", remote_access.USER_INITIATED_TRIGGER, 300, ""),
    ):
        try:
            rule = await amt.call(
                remote_access.add_remote_access_policy_rule(
                    trigger=trigger, tunnel_lifetime=lifetime, extended_data=extended_data, mps_name=server_name
                )
            )
        except CALL_ERRORS as error:
            raise ComponentFailed(f"Failed to add {name} remote access policy", cause_of(error)) from None
        if not rule.succeeded:
            raise ComponentFailed(f"Failed to add {name} remote access policy", f"ReturnValue {rule.return_value}")

    # 9. Both policies apply to the MPS, reached both ways (correction 17: explicit references).
    try:
        for policy in await amt.enumerate(remote_access.POLICIES_APPLIED_TO_MPS):
            await amt.call(remote_access.put_policy_applies_to_mps(policy, mps_name=policy.mps_name or server_name))
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to update remote access policy", cause_of(error)) from None
