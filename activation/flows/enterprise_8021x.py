"""802.1X through the Enterprise Assistant (spec/enterprise-assistant.md §4, §5): the wired
settings with an EA account or certificate, and the credentials of one 802.1X Wi-Fi profile.

Upstream misbehaviour decided here (§9):
- B4: an EA failure fails the WiredNetwork/WirelessNetwork component, never the activation; the
  terminal message is then `error` with the status, as for any failed component (protocol.md
  correction 5), where upstream says `success`.
- B7 fixed: every 802.1X Wi-Fi profile gets its own EA exchange (its own account or certificate),
  not the first profile's (§5.5). A profile whose exchange fails is reported and the next ones
  are still added (upstream stops the whole wireless step, S27).
- B8 fixed: wired PEAP links the root it installed as `ServerCertificateIssuer`, so AMT checks the
  RADIUS server's certificate (upstream installs it and links nothing).
- S14: a certificate reply without `username` uses the certificate's subject CN as the 802.1X
  identity (upstream sends none, which AMT's Wi-Fi call refuses); no CN fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.x509.oid import NameOID

from activation.flows.components import ComponentFailed, ConfigurationReport, cause_of
from activation.flows.enterprise_certificates import (
    IN_8021X,
    CertificateOnDevice,
    EnterpriseAssistantScope,
    certificate_for_amt_key,
    describe,
    request_account,
    trusted_root_handle,
)
from activation.flows.ports import StepOutcome
from activation.plan.configuration_plan import EAP_TLS, Ieee8021xPlan
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import network
from rps_site.sensitive import Secret

ADD_ROOT_FAILED = "Failed to add radius server root certificate in 802.1x"
GET_SETTINGS_FAILED = "Failed to get 8021x wired profile"
PUT_FAILED = "Failed to put 802.1x profile"
SET_CERTIFICATES_FAILED = "Failed to set certificate in 802.1x"


@dataclass(frozen=True)
class Ieee8021xCredentials:
    """What one 802.1X configuration presents, as installed in AMT: the identity, the PEAP
    password (to the device only), the client certificate's and the RADIUS root's handles."""

    username: str
    password: Secret | None
    root_handle: str
    client_handle: str | None
    summary: str  # what was issued, for the component details and the run history


async def credentials_from_enterprise_assistant(
    amt: AmtSession,
    config: Ieee8021xPlan,
    scope: EnterpriseAssistantScope,
    report: ConfigurationReport,
    *,
    used_by: str,
) -> Ieee8021xCredentials:
    """W2-W10 / F1-F9 for one 802.1X config: the account (PEAP) or the certificate (EAP-TLS) the
    EA gives, with its root installed in AMT. Raises `ComponentFailed` with upstream's text."""
    exchange = scope.exchange()
    account = await request_account(exchange, config.authentication_protocol, IN_8021X)
    if config.authentication_protocol == EAP_TLS:
        issued = await certificate_for_amt_key(amt, exchange, IN_8021X)
        root_handle = await trusted_root_handle(amt, issued.issued.root_certificate, ADD_ROOT_FAILED)
        summary = f"EAP-TLS certificate {describe(issued.issued.certificate)}"
        report.step(f"802.1X certificate for {used_by}", StepOutcome.SUCCESS, summary)
        return Ieee8021xCredentials(_identity(issued), None, root_handle, issued.handle, summary)
    if account is None:  # request_account guarantees an account for PEAP; kept as a named failure
        raise ComponentFailed(ADD_ROOT_FAILED, "the Enterprise Assistant gave no account")
    root_handle = await trusted_root_handle(amt, account.root_certificate, ADD_ROOT_FAILED)
    summary = f"PEAP account {account.username}, RADIUS root {describe(account.root_certificate)}"
    report.step(f"802.1X account for {used_by}", StepOutcome.SUCCESS, summary)
    return Ieee8021xCredentials(account.username, account.password, root_handle, None, summary)


def _identity(issued: CertificateOnDevice) -> str:
    if issued.issued.username:
        return issued.issued.username
    names = issued.issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not isinstance(names[0].value, str):
        raise ComponentFailed(PUT_FAILED, "the Enterprise Assistant gave no 802.1X username")
    return names[0].value


async def configure_wired_with_enterprise_assistant(
    amt: AmtSession, config: Ieee8021xPlan, scope: EnterpriseAssistantScope, report: ConfigurationReport
) -> str:
    """§4.2 / §4.3: returns what was issued. Raises `ComponentFailed`."""
    try:
        settings = await amt.call(network.get_ieee8021x_settings())
    except CALL_ERRORS as error:
        raise ComponentFailed(GET_SETTINGS_FAILED, cause_of(error)) from None
    credentials = await credentials_from_enterprise_assistant(amt, config, scope, report, used_by="wired")
    try:
        await amt.call(
            network.enable_ieee8021x(
                settings,
                authentication_protocol=config.authentication_protocol,
                username=credentials.username,
                password=credentials.password,
                pxe_timeout=config.pxe_timeout,
                profile_name=config.name,
            )
        )
    except CALL_ERRORS as error:
        raise ComponentFailed(PUT_FAILED, cause_of(error)) from None
    try:
        linked = await amt.call(
            network.set_ieee8021x_certificates(
                server_certificate_issuer=credentials.root_handle, client_certificate=credentials.client_handle
            )
        )
    except CALL_ERRORS as error:
        raise ComponentFailed(SET_CERTIFICATES_FAILED, cause_of(error)) from None
    if not linked.succeeded:
        raise ComponentFailed(SET_CERTIFICATES_FAILED, f"ReturnValue {linked.return_value}")
    return credentials.summary
