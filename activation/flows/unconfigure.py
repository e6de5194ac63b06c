"""Clean-up before configuring (protocol.md §4.6, with correction 9): remove what an earlier
configuration left, in upstream's order. Nothing here stops the configuration that follows; a
failed removal is reported on the component whose leftovers stay on the device."""

from __future__ import annotations

from activation.flows.components import ConfigurationReport, Pause, cause_of
from activation.flows.ports import StepOutcome
from activation.plan.configuration_plan import ConfigurationPlan
from activation.protocol.status import Component
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import certificates, network, proxies, remote_access, setup


async def unconfigure(amt: AmtSession, plan: ConfigurationPlan, report: ConfigurationReport, *, pause: Pause) -> None:
    # 1. Which ports exist (a port exists when it reports a MAC address).
    wired_exists = wireless_exists = False
    try:
        ports = await amt.enumerate(network.ETHERNET_PORT_SETTINGS)
        wired_exists = any(port.is_wired and port.exists for port in ports)
        wireless_exists = any(port.is_wireless and port.exists for port in ports)
    except CALL_ERRORS as error:
        report.failed(Component.WIRED_NETWORK, "Failed to read ethernet port settings", cause_of(error))

    # 2. Wired 802.1X off.
    ieee8021x_disabled = False
    if wired_exists:
        try:
            settings = await amt.call(network.get_ieee8021x_settings())
            if settings.is_enabled:
                await amt.call(network.disable_ieee8021x(settings))
                ieee8021x_disabled = True
                report.step("clean-up: wired 802.1X disabled", StepOutcome.SUCCESS)
        except CALL_ERRORS as error:
            report.failed(Component.WIRED_NETWORK, "Failed to disable 802.1x", cause_of(error))

    if wireless_exists:
        await _delete_wifi_profiles(amt, report)  # 3
    await _delete_proxies(amt, report)  # 4
    await _remove_cira(amt, report)  # 5-6

    # 7-9. TLS off, then its key pairs and certificates (skipped on TLS-enforced AMT 19+, and when
    # the session runs through the TLS RPS just configured).
    if not (plan.tls_enforced or plan.keep_tls):
        tls_was_enabled = await _disable_tls(amt, report, pause=pause)
        # Correction 9: key pairs only when TLS or 802.1X was on; certificates always.
        if tls_was_enabled or ieee8021x_disabled:
            await _delete_key_pairs(amt, report)
        await _delete_certificates(amt, report)

    # 10. Environment detection back to "no strings".
    try:
        detection = await amt.call(remote_access.get_environment_detection())
        if detection.detection_strings:
            await amt.call(remote_access.put_environment_detection(detection, detection_strings=[]))
    except CALL_ERRORS as error:
        report.failed(Component.CIRA_CONNECTION, "Failed to clear environment detection", cause_of(error))


async def _delete_wifi_profiles(amt: AmtSession, report: ConfigurationReport) -> None:
    """Step 3: the Wi-Fi profiles (priority 0 is the profile the host OS shares, not ours to delete)."""
    try:
        profiles = await amt.enumerate(network.WIFI_ENDPOINT_SETTINGS)
    except CALL_ERRORS as error:
        report.failed(Component.WIRELESS_NETWORK, "Failed to read wireless profiles", cause_of(error))
        profiles = []
    for profile in profiles:
        if not profile.instance_id or profile.priority == 0:
            continue
        try:
            await amt.call(network.delete_wifi_endpoint_settings(profile.instance_id))
            report.step(f"clean-up: wireless profile {profile.element_name} deleted", StepOutcome.SUCCESS)
        except CALL_ERRORS as error:
            report.failed(
                Component.WIRELESS_NETWORK,
                f"Failed to delete wireless profile {profile.element_name}",
                cause_of(error),
            )


async def _delete_proxies(amt: AmtSession, report: ConfigurationReport) -> None:
    """Step 4: the HTTP proxies."""
    try:
        access_points = await amt.enumerate(proxies.HTTP_PROXY_ACCESS_POINTS)
    except CALL_ERRORS as error:
        report.failed(Component.CIRA_PROXY, "Failed to read proxy access points", cause_of(error))
        access_points = []
    for proxy in access_points:
        try:
            await amt.call(proxies.delete_http_proxy_access_point(proxy.name))
            report.step(f"clean-up: proxy {proxy.name} deleted", StepOutcome.SUCCESS)
        except CALL_ERRORS as error:
            report.failed(Component.CIRA_PROXY, f"Failed to delete proxy {proxy.name}", cause_of(error))


async def _remove_cira(amt: AmtSession, report: ConfigurationReport) -> None:
    """Steps 5-6: remote access policies (a rule that is not there answers 400, which is fine),
    then the MPS servers."""
    for rule_name in remote_access.POLICY_RULE_NAMES:
        try:
            await amt.call(remote_access.delete_remote_access_policy_rule(rule_name))
        except CALL_ERRORS as error:
            cause_of(error)

    try:
        servers = await amt.enumerate(remote_access.MANAGEMENT_PRESENCE_SERVERS)
    except CALL_ERRORS as error:
        report.failed(Component.CIRA_CONNECTION, "Failed to read MPS servers", cause_of(error))
        servers = []
    for server in servers:
        try:
            await amt.call(remote_access.delete_management_presence_server(server.name))
            report.status.cira_connection = "unconfigured"
            report.step(f"clean-up: MPS server {server.name} deleted", StepOutcome.SUCCESS)
        except CALL_ERRORS as error:
            report.failed(Component.CIRA_CONNECTION, "Failed to delete mps", cause_of(error))


async def _disable_tls(amt: AmtSession, report: ConfigurationReport, *, pause: Pause) -> bool:
    try:
        settings = await amt.enumerate(certificates.TLS_SETTING_DATA)
    except CALL_ERRORS as error:
        report.failed(Component.TLS, "Failed to read TLS settings", cause_of(error))
        return False
    if not any(setting.enabled for setting in settings[:2]):
        return False
    try:
        remote = await amt.call(
            certificates.put_tls_setting_data(
                settings[0], enabled=False, accept_non_secure_connections=True, mutual_authentication=False
            )
        )
        if remote.is_remote and len(settings) > 1 and settings[1].enabled:
            await amt.call(certificates.put_tls_setting_data(settings[1], enabled=False))
        commit = await amt.call(setup.commit_changes())
    except CALL_ERRORS as error:
        report.failed(Component.TLS, "Failed to disable TLS", cause_of(error))
        report.status.tls_configuration = "Failed to disable TLS"
        return True
    if not commit.succeeded:
        report.failed(Component.TLS, "Failed to disable TLS", f"CommitChanges ReturnValue {commit.return_value}")
        report.status.tls_configuration = "Failed to disable TLS"
        return True
    report.status.tls_configuration = "unconfigured"
    report.step("clean-up: TLS disabled", StepOutcome.SUCCESS)
    await pause()
    try:
        for context in await amt.enumerate(certificates.TLS_CREDENTIAL_CONTEXTS):
            if context.certificate_instance_id:
                await amt.call(certificates.delete_tls_credential_context(context.certificate_instance_id))
    except CALL_ERRORS as error:
        report.failed(Component.TLS, "Failed to delete TLS credential context", cause_of(error))
    return True


async def _delete_key_pairs(amt: AmtSession, report: ConfigurationReport) -> None:
    try:
        key_pairs = await amt.enumerate(certificates.PUBLIC_PRIVATE_KEY_PAIRS)
    except CALL_ERRORS as error:
        report.failed(Component.TLS, "Failed to read key pairs", cause_of(error))
        return
    for key_pair in key_pairs:
        try:
            await amt.call(certificates.delete_key_pair(key_pair.instance_id))
        except CALL_ERRORS as error:
            report.failed(Component.TLS, f"Failed to delete key pair {key_pair.instance_id}", cause_of(error))


async def _delete_certificates(amt: AmtSession, report: ConfigurationReport) -> None:
    try:
        stored = await amt.enumerate(certificates.PUBLIC_KEY_CERTIFICATES)
    except CALL_ERRORS as error:
        report.failed(Component.TLS, "Failed to read certificates", cause_of(error))
        return
    for certificate in stored:
        try:
            await amt.call(certificates.delete_certificate(certificate.instance_id))
        except CALL_ERRORS as error:
            # §4.6 step 9: an error skips to the next certificate.
            report.failed(Component.TLS, f"Failed to delete certificate {certificate.instance_id}", cause_of(error))
