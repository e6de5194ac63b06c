"""Post-activation configuration (protocol.md §4.6-4.10): what the profile asks for, in the
spec's order: clean-up → network (wired, 802.1X, Wi-Fi, proxies) → AMT features → TLS → CIRA
(§5.5 places TLS before CIRA; a profile has one or the other).

A failing component never stops the others: it is reported as `Failure` with its cause in
`status.components` (correction 4), in `Network`/`TLSConfiguration`/`CIRAConnection`, and in the
returned step records that the runner writes to the run history.
"""

from __future__ import annotations

from typing import Any

from activation.flows.cira import configure_cira
from activation.flows.components import ComponentFailed, ConfigurationReport, MpsPort, Pause, delay_timer
from activation.flows.enterprise_certificates import describe
from activation.flows.features import configure_features
from activation.flows.network import configure_network
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepOutcome, StepRecord
from activation.flows.tls import TLS_ALREADY_CONFIGURED, TLS_CONFIGURED, configure_tls, serves_issued_certificate
from activation.flows.unconfigure import unconfigure
from activation.plan.configuration_plan import CiraPlan, ConfigurationPlan, ConfigurationUnavailable, TlsPlan
from activation.protocol.status import ActivationStatus, Component
from activation.session import AmtSession
from activation.wsman.setup import GeneralSettings

FEATURES_FAILED = "AMT features not configured"


async def configure_device(
    amt: AmtSession,
    plan: ConfigurationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    status: ActivationStatus,
    *,
    mps: MpsPort | None,
    mps_record: dict[str, Any] | None = None,
    pause: Pause = delay_timer,
    general_settings: GeneralSettings | None = None,
) -> list[StepRecord]:
    """Configure an activated device (credentials already `admin`). Fills `status` in place and
    returns one step record per step, failures with their cause (never a secret).

    `general_settings`: AMT_GeneralSettings as the activation read it (§4.7.1 starts from that
    object); read from the device when not given."""
    report = ConfigurationReport(status)

    await progress.report("Clearing previous configuration")
    await unconfigure(amt, plan, report, pause=pause)

    await configure_network(amt, plan, report, progress, general_settings=general_settings)

    try:
        text = await configure_features(amt, plan.features, progress)
        report.step("configure AMT features", StepOutcome.SUCCESS, text)
    except ComponentFailed as failure:
        # Not one of the six components of §2.7: the failure shows in Status (correction 5).
        report.step("configure AMT features", StepOutcome.FAILURE, str(failure))
        status.status = f"{status.status} {FEATURES_FAILED}: {failure.status_text}".strip()

    if plan.tls is not None:
        await _configure_tls_component(amt, plan, plan.tls, report, secrets=secrets, progress=progress, pause=pause)
    if plan.cira is not None:
        await _configure_cira_component(
            amt, plan, plan.cira, report, mps_record=mps_record, secrets=secrets, mps=mps, progress=progress
        )
    report.not_asked_for()
    return report.steps


def configuration_not_applied(status: ActivationStatus, cause: str) -> list[StepRecord]:
    """The plan could not be resolved (e.g. Vault unreachable): nothing was sent to the device,
    and every configurable component says so."""
    text = f"Configuration not applied: {cause}"
    report = ConfigurationReport(status)
    for component in Component:
        if component is not Component.ACTIVATION:
            report.failed(component, text)
    return report.steps


async def configure_after_activation(
    amt: AmtSession,
    configuration: ConfigurationPlan | ConfigurationUnavailable,
    result: FlowResult,
    *,
    secrets: DeviceSecretsPort,
    mps: MpsPort | None,
    progress: ProgressPort,
    pause: Pause = delay_timer,
) -> list[StepRecord]:
    """The runner's entry (§4.1 step 11, §4.3 step 10): configure what the profile asks for once
    the activation succeeded; fills `result.status` and returns the step records. A plan that
    could not be resolved (Vault down) sends nothing to the device and says so in every component."""
    status = result.status
    if not isinstance(status, ActivationStatus):
        return []
    if isinstance(configuration, ConfigurationUnavailable):  # configure nothing, say why
        return configuration_not_applied(status, f"the configuration could not be read ({configuration.cause})")
    return await configure_device(
        amt,
        configuration,
        secrets,
        progress,
        status,
        mps=mps,
        pause=pause,
        general_settings=result.general_settings,
    )


async def _configure_tls_component(
    amt: AmtSession,
    plan: ConfigurationPlan,
    tls: TlsPlan,
    report: ConfigurationReport,
    *,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    pause: Pause,
) -> None:
    """§4.9, unless AMT already serves the certificate RPS issued it."""
    try:
        if await serves_issued_certificate(amt, plan.device_guid, secrets):
            report.status.tls_configuration = TLS_ALREADY_CONFIGURED
            report.succeeded(Component.TLS, TLS_ALREADY_CONFIGURED)
        else:
            leaf = await configure_tls(
                amt,
                tls,
                device_guid=plan.device_guid,
                hostname=plan.hostname,
                secrets=secrets,
                progress=progress,
                pause=pause,
            )
            report.status.tls_configuration = TLS_CONFIGURED
            report.succeeded(Component.TLS, f"{TLS_CONFIGURED} ({describe(leaf)})")
    except ComponentFailed as failure:
        report.status.tls_configuration = failure.status_text
        report.failed(Component.TLS, failure.status_text, failure.cause)


async def _configure_cira_component(
    amt: AmtSession,
    plan: ConfigurationPlan,
    cira: CiraPlan,
    report: ConfigurationReport,
    *,
    mps_record: dict[str, Any] | None,
    secrets: DeviceSecretsPort,
    mps: MpsPort | None,
    progress: ProgressPort,
) -> None:
    """§4.10, with the MPS record the activation registered."""
    record = dict(mps_record or {})
    record.setdefault("guid", plan.device_guid)
    record.setdefault("hostname", plan.hostname)
    record.setdefault("tags", list(plan.tags))
    record.setdefault("tenantId", plan.tenant_id)
    try:
        await configure_cira(
            amt,
            cira,
            mps_record=record,
            secrets=secrets,
            mps=mps,
            device_guid=plan.device_guid,
            progress=progress,
        )
        report.status.cira_connection = "Configured"
        report.succeeded(Component.CIRA_CONNECTION, "Configured")
    except ComponentFailed as failure:
        report.status.cira_connection = failure.status_text
        report.failed(Component.CIRA_CONNECTION, failure.status_text, failure.cause)
