"""Network configuration (protocol.md §4.7): general settings, the wired port (DHCP or static, IP
sync), wired 802.1X, Wi-Fi profiles with local profile sync, HTTP proxies. 802.1X accounts and
certificates from the Enterprise Assistant are in `enterprise_8021x`.

Each part reports its own component (WiredNetwork, WirelessNetwork, CIRAProxy) and a failed part
never stops the next one. Wi-Fi profiles are checked against the firmware's limits before the
first one is sent: a list AMT would only take in part fails as a whole, with the reason.
"""

from __future__ import annotations

import string

from activation.flows.components import ComponentFailed, ConfigurationReport, cause_of
from activation.flows.enterprise_8021x import (
    Ieee8021xCredentials,
    configure_wired_with_enterprise_assistant,
    credentials_from_enterprise_assistant,
)
from activation.flows.enterprise_certificates import EnterpriseAssistantScope
from activation.flows.ports import ProgressPort
from activation.flows.proxies import configure_proxies
from activation.plan.configuration_plan import (
    IEEE8021X_METHODS,
    PSK_METHODS,
    ConfigurationPlan,
    Ieee8021xPlan,
    WirelessPlan,
)
from activation.protocol.status import Component, ComponentMode
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import network, setup
from activation.wsman.network import EthernetPortSettings
from activation.wsman.setup import GeneralSettings

# AMT's Wi-Fi limits (the firmware refuses what exceeds them, upstream's API enforces the first).
MAX_WIFI_PROFILES = 8
MAX_WIFI_NAME_LENGTH = 32
MAX_SSID_BYTES = 32
PSK_LENGTHS = range(8, 64)

WIRED_CONFIGURED = "Wired Network Configured"
WIRED_PUT_FAILED = "Failed to put to ethernet port settings"
STATIC_WITHOUT_ADDRESS = (
    "Invalid configuration - IPAddress and SubnetMask are required when AMT profile is static and "
    "IpSyncEnabled is false"
)
WIRELESS_STATIC_WITHOUT_ADDRESS = (
    "Invalid configuration - IPAddress and SubnetMask are required when AMT profile is static"
)
GENERAL_SETTINGS_FAILED = "Failed to update amt general settings on device"


async def configure_network(
    amt: AmtSession,
    plan: ConfigurationPlan,
    report: ConfigurationReport,
    progress: ProgressPort,
    *,
    general_settings: GeneralSettings | None = None,
) -> None:
    await progress.report("Configuring network settings")
    parts: list[str] = []
    try:
        ports = await _prepare(amt, general_settings)
    except ComponentFailed as failure:
        for component in _planned_network_components(plan):
            report.failed(component, failure.status_text, failure.cause)
        report.status.network = failure.status_text
        return
    wired = next((port for port in ports if port.is_wired and port.exists), None)
    wireless = next((port for port in ports if port.is_wireless and port.exists), None)

    if wired is not None:
        parts.append(await _configure_wired(amt, plan, wired, report, progress))
    if wireless is not None and (plan.wants_wireless or wired is None):
        parts.append(await _configure_wireless(amt, plan, wireless, report, progress))
    elif plan.wireless:
        report.failed(Component.WIRELESS_NETWORK, "Device has no wireless port")
        parts.append("Device has no wireless port")
    if plan.proxies and (wired is not None or wireless is not None):
        parts.append(await configure_proxies(amt, plan, report, progress))
    report.status.network = ". ".join(part for part in parts if part) or None


def _planned_network_components(plan: ConfigurationPlan) -> list[Component]:
    components = [Component.WIRED_NETWORK]
    if plan.wants_wireless:
        components.append(Component.WIRELESS_NETWORK)
    if plan.proxies:
        components.append(Component.CIRA_PROXY)
    return components


async def _prepare(amt: AmtSession, general_settings: GeneralSettings | None) -> list[EthernetPortSettings]:
    """§4.7.1: AMT networking on (from the settings object the activation read), then the ports."""
    try:
        settings = general_settings if general_settings is not None else await amt.call(setup.get_general_settings())
        if not settings.network_ready:
            await amt.call(
                setup.put_general_settings(
                    settings, shared_fqdn=True, amt_network_enabled=1, rmcp_ping_response_enabled=True
                )
            )
    except CALL_ERRORS as error:
        raise ComponentFailed(GENERAL_SETTINGS_FAILED, cause_of(error)) from None
    try:
        return await amt.enumerate(network.ETHERNET_PORT_SETTINGS)
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to read ethernet port settings", cause_of(error)) from None


# ---------------------------------------------------------------------------------------------
# Wired (§4.7.2) and wired 802.1X (§4.7.3)
# ---------------------------------------------------------------------------------------------


async def _configure_wired(
    amt: AmtSession,
    plan: ConfigurationPlan,
    port: EthernetPortSettings,
    report: ConfigurationReport,
    progress: ProgressPort,
) -> str:
    if plan.tls_enforced:
        text = WIRED_CONFIGURED  # AMT 19 hangs on the wired Put: it is skipped (§4.7.2)
    else:
        try:
            text = await _put_wired(amt, plan, port)
        except ComponentFailed as failure:
            report.failed(Component.WIRED_NETWORK, failure.status_text, failure.cause)
            return failure.status_text
    issued = ""
    if plan.wired_ieee8021x is not None:
        try:
            issued = await _enable_wired_ieee8021x(amt, plan, plan.wired_ieee8021x, report)
        except ComponentFailed as failure:
            report.failed(Component.WIRED_NETWORK, failure.status_text, failure.cause)
            return f"{text}. {failure.status_text}"
        text = f"{text} with 802.1x"
    report.succeeded(Component.WIRED_NETWORK, f"{text} ({issued})" if issued else text)
    await progress.report("Wired network configuration completed")
    return text


async def _put_wired(amt: AmtSession, plan: ConfigurationPlan, port: EthernetPortSettings) -> str:
    if plan.dhcp_enabled:
        wanted = (True, True, False)
        call = network.put_ethernet_port_settings(
            port, dhcp_enabled=True, ip_sync_enabled=True, shared_static_ip=False, remove_ip_fields=True
        )
    elif plan.ip_sync_enabled:
        wanted = (False, True, True)
        call = network.put_ethernet_port_settings(
            port, dhcp_enabled=False, ip_sync_enabled=True, shared_static_ip=True, remove_ip_fields=True
        )
    else:
        if not (port.ip_address and port.subnet_mask):
            raise ComponentFailed(STATIC_WITHOUT_ADDRESS)
        wanted = (False, False, False)
        call = network.put_ethernet_port_settings(
            port, dhcp_enabled=False, ip_sync_enabled=False, shared_static_ip=False
        )
    try:
        applied = await amt.call(call)
    except CALL_ERRORS as error:
        raise ComponentFailed(WIRED_PUT_FAILED, cause_of(error)) from None
    if (applied.dhcp_enabled, applied.ip_sync_enabled, applied.shared_static_ip) != wanted:
        raise ComponentFailed(WIRED_PUT_FAILED, "AMT did not apply the requested settings")
    return WIRED_CONFIGURED


def enterprise_assistant_scope(plan: ConfigurationPlan) -> EnterpriseAssistantScope:
    return EnterpriseAssistantScope(tenant_id=plan.tenant_id, device_name=plan.hostname)


async def _enable_wired_ieee8021x(
    amt: AmtSession, plan: ConfigurationPlan, config: Ieee8021xPlan, report: ConfigurationReport
) -> str:
    """What the Enterprise Assistant issued, or "" for a config with its own password."""
    if config.problem:
        raise ComponentFailed(f"Failed to configure 802.1x: {config.problem}")
    if config.enterprise_assistant:
        return await configure_wired_with_enterprise_assistant(amt, config, enterprise_assistant_scope(plan), report)
    try:
        settings = await amt.call(network.get_ieee8021x_settings())
        await amt.call(
            network.enable_ieee8021x(
                settings,
                authentication_protocol=config.authentication_protocol,
                username=config.username,
                password=config.password,
                pxe_timeout=config.pxe_timeout,
                profile_name=config.name,
            )
        )
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to configure 802.1x", cause_of(error)) from None
    return ""


# ---------------------------------------------------------------------------------------------
# Wireless (§4.7.4)
# ---------------------------------------------------------------------------------------------


def wireless_limit_violations(profiles: tuple[WirelessPlan, ...]) -> list[str]:
    """What AMT would refuse in this list; empty when every profile fits."""
    problems: list[str] = []
    if len(profiles) > MAX_WIFI_PROFILES:
        problems.append(f"{len(profiles)} wireless profiles, AMT stores at most {MAX_WIFI_PROFILES}")
    priorities = [profile.priority for profile in profiles]
    duplicates = sorted({priority for priority in priorities if priorities.count(priority) > 1})
    if duplicates:
        problems.append(f"priority {', '.join(map(str, duplicates))} is used more than once")
    for profile in profiles:
        if not profile.name or len(profile.name) > MAX_WIFI_NAME_LENGTH:
            problems.append(f"profile name {profile.name!r} must be 1 to {MAX_WIFI_NAME_LENGTH} characters")
        if not 1 <= profile.priority <= 255:
            problems.append(f"{profile.name}: priority {profile.priority} is outside 1-255")
        if not 1 <= len(profile.ssid.encode("utf-8")) <= MAX_SSID_BYTES:
            problems.append(f"{profile.name}: the SSID must be 1 to {MAX_SSID_BYTES} bytes")
        if profile.authentication_method not in (*PSK_METHODS, *IEEE8021X_METHODS):
            problems.append(f"{profile.name}: authentication method {profile.authentication_method} is unknown")
        if profile.encryption_method not in (3, 4):
            problems.append(f"{profile.name}: encryption method {profile.encryption_method} is unknown")
        if profile.psk_passphrase is not None and not _valid_passphrase(profile.psk_passphrase.reveal()):
            problems.append(f"{profile.name}: the PSK passphrase must be 8 to 63 printable ASCII characters")
    return problems


def _valid_passphrase(value: str) -> bool:
    if len(value) == 64:
        return all(character in string.hexdigits for character in value)
    return len(value) in PSK_LENGTHS and all(" " <= character <= "~" for character in value)


async def _configure_wireless(
    amt: AmtSession,
    plan: ConfigurationPlan,
    port: EthernetPortSettings,
    report: ConfigurationReport,
    progress: ProgressPort,
) -> str:
    component = Component.WIRELESS_NETWORK
    violations = wireless_limit_violations(plan.wireless)
    if violations:
        text = "Wireless not configured: " + "; ".join(violations)
        report.failed(component, text)
        return text
    try:
        await _prepare_wireless_port(amt, plan, port)
    except ComponentFailed as failure:
        report.failed(component, failure.status_text, failure.cause)
        return failure.status_text

    added: list[str] = []
    failed: list[str] = []
    causes: list[str] = []
    for profile in plan.wireless:
        try:
            await _add_wifi_profile(amt, plan, profile, report)
        except ComponentFailed as failure:
            # An Enterprise Assistant failure is named with the profile; the others only in the cause.
            failed.append(f"{profile.name} ({failure.status_text})" if failure.cause else profile.name)
            causes.append(
                f"{profile.name}: {failure.status_text} ({failure.cause})" if failure.cause else failure.status_text
            )
            continue
        added.append(profile.name)
        await progress.report(f"Added wireless profile {profile.name}")

    if not plan.wireless:
        text = "Wireless Only Local Profile Sync Configured"
        report.succeeded(component, text, ComponentMode.LOCAL_PROFILE_SYNC)
    elif not failed:
        text = "Wireless Configured"
        report.succeeded(component, text)
    else:
        text = (f"Added {', '.join(added)} WiFi Profiles. " if added else "") + f"Failed to add {', '.join(failed)}"
        report.failed(component, text, "; ".join(causes))
    await progress.report("Wireless network configuration completed")
    return text


async def _prepare_wireless_port(amt: AmtSession, plan: ConfigurationPlan, port: EthernetPortSettings) -> None:
    """Steps 1-3: the wireless port's settings, local/UEFI profile sync, the port on in S0 and Sx."""
    if not port.dhcp_enabled and not (port.ip_address and port.subnet_mask):
        raise ComponentFailed(WIRELESS_STATIC_WITHOUT_ADDRESS)
    try:
        await amt.call(
            network.put_ethernet_port_settings(
                port, remove_ip_fields=port.dhcp_enabled, console_tcp_max_retransmissions=7
            )
        )
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to put to wireless ethernet port settings", cause_of(error)) from None
    try:
        configuration = await amt.call(network.get_wifi_port_configuration())
        wanted_local = 3 if plan.local_wifi_sync_enabled else 0
        # Deviation from upstream (which only writes when sync is off): write whenever the device
        # differs from the profile, so a new profile never inherits an old sync setting.
        needs_put = configuration.local_profile_synchronization_enabled != wanted_local or (
            configuration.uefi_wifi_profile_share_enabled != plan.uefi_wifi_sync_enabled
        )
        if needs_put:
            capabilities = await amt.call(network.get_boot_capabilities())
            uefi = plan.uefi_wifi_sync_enabled if capabilities.uefi_wifi_coexistence_and_profile_share else None
            await amt.call(
                network.put_wifi_port_configuration(
                    configuration, local_sync_enabled=plan.local_wifi_sync_enabled, uefi_profile_share=uefi
                )
            )
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to set wireless profile synchronization", cause_of(error)) from None
    try:
        enabled = await amt.call(network.enable_wifi_port())
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to enable the wireless port", cause_of(error)) from None
    if not enabled.succeeded:
        raise ComponentFailed("Failed to enable the wireless port", f"ReturnValue {enabled.return_value}")


async def _add_wifi_profile(
    amt: AmtSession, plan: ConfigurationPlan, profile: WirelessPlan, report: ConfigurationReport
) -> None:
    """One profile; raises `ComponentFailed` (its cause empty unless an EA step failed)."""
    problem = profile.problem or (profile.ieee8021x.problem if profile.ieee8021x is not None else "")
    if problem:
        raise ComponentFailed(problem)
    credentials = None
    if profile.ieee8021x is not None and profile.ieee8021x.enterprise_assistant:
        # §5.5, B7: this profile's own exchange, never the previous profile's account or certificate.
        scope = enterprise_assistant_scope(plan)
        credentials = await credentials_from_enterprise_assistant(
            amt, profile.ieee8021x, scope, report, used_by=f"Wi-Fi profile {profile.name}"
        )
    try:
        outcome = await amt.call(network.add_wifi_settings(_wifi_profile(profile, credentials)))
    except CALL_ERRORS as error:
        raise ComponentFailed(f"{profile.name}: {cause_of(error)}") from None
    if not outcome.succeeded:
        raise ComponentFailed(f"{profile.name}: ReturnValue {outcome.return_value}")


def _wifi_profile(profile: WirelessPlan, credentials: Ieee8021xCredentials | None) -> network.WifiProfile:
    ieee8021x = None
    if profile.ieee8021x is not None and profile.authentication_method in IEEE8021X_METHODS:
        ieee8021x = network.WifiIeee8021x(
            name=profile.ieee8021x.name,
            authentication_protocol=profile.ieee8021x.authentication_protocol,
            username=credentials.username if credentials else profile.ieee8021x.username,
            password=credentials.password if credentials else profile.ieee8021x.password,
            roaming_identity=profile.ieee8021x.roaming_identity,
            client_certificate=credentials.client_handle if credentials else None,
            ca_certificate=credentials.root_handle if credentials else None,
        )
    return network.WifiProfile(
        name=profile.name,
        ssid=profile.ssid,
        priority=profile.priority,
        authentication=network.WifiAuthentication(profile.authentication_method),
        encryption=network.WifiEncryption(profile.encryption_method),
        psk_passphrase=profile.psk_passphrase if profile.authentication_method in PSK_METHODS else None,
        ieee8021x=ieee8021x,
    )
