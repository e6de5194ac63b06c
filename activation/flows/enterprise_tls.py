"""TLS with a certificate from the Microsoft CA (spec/enterprise-assistant.md §6, T3-T10): the
EAP-TLS message sequence with protocol 0, for AMT's own TLS key. `tls.configure_tls` then puts
the certificate in use exactly as the MPS-signed one (§4.9 steps 5-9), keeps it in Vault as
`TLS_ISSUED_CERTIFICATE` and makes the session expect it.

B13 fixed: the EA's root is installed as a trusted root (mutual TLS needs one, Q5), and the
issued certificate is kept like the self-signed path's, so later sessions (the AMT 19+ tunnel,
re-provisioning, `--tls-tunnel`) verify the device against it and the ACM upgrade of AMT 19+
goes on after TLS (upstream stops in CCM with `success`, §6.2).
"""

from __future__ import annotations

from cryptography import x509

from activation.flows.enterprise_certificates import (
    CertificateOnDevice,
    EnterpriseAssistantScope,
    certificate_for_amt_key,
    request_account,
    trusted_root_handle,
)
from activation.plan.configuration_plan import EAP_TLS
from activation.session import AmtSession

TRUSTED_ROOT_FAILED = "Failed to add trusted root certificate"


async def certificate_from_microsoft_ca(
    amt: AmtSession, scope: EnterpriseAssistantScope
) -> tuple[x509.Certificate, str]:
    """The issued certificate and its AMT handle, with the CA's root trusted by AMT. Raises
    `ComponentFailed` with upstream's TLS texts (no " in 802.1x")."""
    exchange = scope.exchange()
    await request_account(exchange, EAP_TLS, "")
    issued: CertificateOnDevice = await certificate_for_amt_key(amt, exchange, "")
    await trusted_root_handle(amt, issued.issued.root_certificate, TRUSTED_ROOT_FAILED)
    return issued.issued.certificate, issued.handle
