"""Resolve what an activation will do once, before any WS-Man call (DESIGN.md "How an activation
flows"): the flow (`flow_choice.ACTIVATION_FLOWS`), its plan and the configuration that follows.

Profile, passwords and, for ACM, the domain and its provisioning chain are read here, and every
check that needs them runs here: the device tenant is allowed, the profile exists, the control
mode fits, the DNS suffix matches a domain, the chain's root is one the device trusts, the flow
has what it needs (TLS for `--tls-tunnel`). Each refusal is a `ProtocolError` whose text names the
cause and goes to the client as is.

Synchronous (ORM and hvac); the runner calls it in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from activation.plan.activation_plan import ActivationPlan, ProvisioningCertificate
from activation.plan.configuration_plan import (
    ConfigurationPlan,
    ConfigurationUnavailable,
    TlsPlan,
    resolve_configuration_plan,
)
from activation.plan.flow_choice import ActivationFlow, FlowPlan, activation_flow
from activation.plan.passwords import generate_amt_password
from activation.protocol.activation_checks import (
    ActivationStart,
    check_acm_prerequisites,
    check_activation_mode,
    domain_suffix_candidates,
    domain_suffix_mismatch_text,
    profile_not_found_text,
    runs_acm_checks,
)
from activation.protocol.messages import DeviceRequest, ProtocolError
from activation.unexpected_failures import unexpected_failure
from profiles.models import ActivationMode, Domain, Profile
from profiles.pfx import PfxRejected, decrypt
from profiles.selectors.domains import domain_for_suffixes
from profiles.selectors.profiles import profile_for_activation
from rps_site.sensitive import Secret
from rps_site.vault import domain_certificate_path, profile_passwords_path, secret_store

logger = logging.getLogger(__name__)


def check_device_tenant(request: DeviceRequest) -> None:
    """The device channel is unauthenticated: only operator-listed tenants may be named on it."""
    if request.tenant_id not in settings.DEVICE_TENANTS:
        raise ProtocolError(
            f"Device {request.device_guid} {request.action.value} failed. Tenant {request.tenant_id!r} is not "
            "accepted on the device channel (RPS_DEVICE_TENANTS)."
        )


def other_tenant_text(request: DeviceRequest) -> str:
    """A device bound to one tenant, named under another (its tenant is never said)."""
    return (
        f"Device {request.device_guid} {request.action.value} failed. Device belongs to another tenant: only an "
        "admin of that tenant can move it to this one."
    )


def not_enrolled_text(request: DeviceRequest) -> str:
    return (
        f"Device {request.device_guid} {request.action.value} failed. Tenant {request.tenant_id!r} accepts enrolled "
        "devices only (RPS_DEVICE_ENROLLMENT_REQUIRED), and this device is not enrolled: an admin can enroll it "
        "(POST /api/v1/admin/devices/enrollment)."
    )


def find_profile(request: DeviceRequest) -> Profile:
    profile = profile_for_activation(tenant_id=request.tenant_id, name=request.command.profile)
    if profile is None or profile.activation not in (ActivationMode.CCM, ActivationMode.ACM):
        raise ProtocolError(profile_not_found_text(request))
    return profile


def static_passwords(profile: Profile) -> tuple[Secret | None, Secret | None]:
    """The profile's static AMT and MEBx passwords from Vault (empty when generated per device)."""
    mebx_irrelevant = profile.activation != ActivationMode.ACM or profile.generate_random_mebx_password
    if profile.generate_random_password and mebx_irrelevant:
        return None, None
    stored = secret_store().read(profile_passwords_path(profile.tenant_id, profile.name))
    if stored is None:
        return None, None
    amt = stored.get("AMT_PASSWORD")
    mebx = stored.get("MEBX_PASSWORD")
    return (amt if amt else None), (mebx if mebx else None)


def find_domain(request: DeviceRequest) -> Domain:
    domain = domain_for_suffixes(tenant_id=request.tenant_id, suffixes=domain_suffix_candidates(request.payload.fqdn))
    if domain is None:
        raise ProtocolError(domain_suffix_mismatch_text(request))
    return domain


def provisioning_certificate(request: DeviceRequest, domain: Domain) -> ProvisioningCertificate:
    """The domain's chain leaf → root, refused unless the device trusts its root."""
    guid = request.device_guid
    stored = secret_store().read(domain_certificate_path(domain.tenant_id, domain.name))
    cert, password = (stored.get("CERT"), stored.get("CERT_PASSWORD")) if stored else (None, None)
    if not cert or not password:
        raise ProtocolError(
            f"Device {guid} activation failed. Provisioning certificate of domain {domain.name} is missing."
        )
    try:
        pfx = decrypt(cert.reveal(), password.reveal())
    except PfxRejected as rejected:
        raise ProtocolError(f"Device {guid} activation failed. Domain {domain.name}: {rejected}") from None
    if pfx.private_key is None:
        raise ProtocolError(f"Device {guid} activation failed. Domain {domain.name} has no private key.")
    chain = order_leaf_to_root(pfx.certificates)
    root_hash = hashlib.sha256(chain[-1].public_bytes(serialization.Encoding.DER)).hexdigest()
    trusted = {value.lower() for value in request.payload.cert_hashes or ()}
    if root_hash not in trusted:
        raise ProtocolError(
            f"Device {guid} activation failed. Provisioning certificate doesn't match any trusted certificates from AMT"
        )
    key_pem = pfx.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return ProvisioningCertificate(
        chain_der=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain), private_key_pem=Secret(key_pem)
    )


def order_leaf_to_root(certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    """Start at the leaf (first bag, as upstream) and follow issuers up to the self-signed root."""
    chain = [certificates[0]]
    remaining = list(certificates[1:])
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in remaining if c.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    return chain


def resolve_activation(request: DeviceRequest) -> FlowPlan:
    """The flow to run (`activation.plan.flow_choice`), its activation plan and, from the same
    profile read, the configuration that follows a successful activation (upstream also reads the
    profile once, at the start).

    Refusals raise `ProtocolError` (their text names the cause) and an unreachable Vault raises
    `VaultUnavailable`. A configuration that cannot be read does not stop the activation:
    it comes back as `ConfigurationUnavailable`, and every configuration component reports it.
    """
    check_device_tenant(request)
    profile = find_profile(request)
    plan = activation_plan_for(request, profile)
    configuration: ConfigurationPlan | ConfigurationUnavailable
    try:
        configuration = resolve_configuration_plan(profile, request, plan.tenant_id)
    except Exception as error:  # noqa: BLE001 - reported on each configuration component
        configuration = ConfigurationUnavailable(unexpected_failure(error))
    return fitted_to_flow(activation_flow(request, plan.mode), plan, configuration)


def fitted_to_flow(
    flow: ActivationFlow, plan: ActivationPlan, configuration: ConfigurationPlan | ConfigurationUnavailable
) -> FlowPlan:
    """What a flow needs beyond the common plan, checked before anything is sent to the device.
    TLS a flow configures while activating (§5.5) is taken out of the configuration that follows."""
    request = plan.device
    if flow is ActivationFlow.ACM_TLS_ENFORCED and plan.provisioning_certificate is None:
        # AMT 19+ was validated as CCM (§2.6.4 step 5); its upgrade needs the domain's chain (§5.5 step 4).
        check_acm_prerequisites(request)
        plan = replace(plan, provisioning_certificate=provisioning_certificate(request, find_domain(request)))
    if flow is ActivationFlow.ACM and plan.provisioning_certificate is None:
        # AMT 19+ activates ACM only through the TLS tunnel (§5.5).
        raise ProtocolError(
            f"Device {request.device_guid} activation failed. Admin control mode on AMT "
            f"{request.payload.ver} runs through the TLS tunnel, and the client did not report tlsEnforced."
        )
    tls = usable_tls(configuration) if flow.configures_tls_while_activating else None
    if flow is ActivationFlow.THROUGH_TLS_TUNNEL and tls is None:
        raise ProtocolError(
            f"Device {request.device_guid} activation failed. The TLS tunnel (--tls-tunnel) needs TLS: "
            f"{tls_problem(configuration)}"
        )
    if tls is not None and isinstance(configuration, ConfigurationPlan):
        # Configured inside the activation; through the tunnel it must also survive the clean-up.
        keep_tls = flow is ActivationFlow.THROUGH_TLS_TUNNEL
        configuration = replace(configuration, tls=None, keep_tls=keep_tls)
    return FlowPlan(flow, plan, configuration, tls_while_activating=tls)


def usable_tls(configuration: ConfigurationPlan | ConfigurationUnavailable) -> TlsPlan | None:
    """The profile's TLS when RPS can configure it (the MPS CA found), else None."""
    if isinstance(configuration, ConfigurationPlan) and configuration.tls is not None and not configuration.tls.problem:
        return configuration.tls
    return None


def tls_problem(configuration: ConfigurationPlan | ConfigurationUnavailable) -> str:
    if isinstance(configuration, ConfigurationUnavailable):
        return f"the configuration could not be read ({configuration.cause})"
    return configuration.tls.problem if configuration.tls is not None else "the profile has no TLS"


def activation_plan_for(request: DeviceRequest, profile: Profile) -> ActivationPlan:
    profile_activation = ActivationMode(profile.activation)
    start = check_activation_mode(request, profile_activation)
    certificate = None
    if runs_acm_checks(request, profile_activation) and start is not ActivationStart.RECONFIGURE_ACM:
        check_acm_prerequisites(request)
        certificate = provisioning_certificate(request, find_domain(request))
    amt_password, mebx_password = static_passwords(profile)
    return ActivationPlan(
        profile_name=profile.name,
        mode=ActivationMode(profile.activation),
        tenant_id=profile.tenant_id,
        device=request,
        amt_password=amt_password or generate_amt_password(),
        password_generated=amt_password is None,
        mebx_password=(mebx_password or generate_amt_password()) if profile_activation is ActivationMode.ACM else None,
        provisioning_certificate=certificate,
        tags=tuple(str(tag) for tag in profile.tags or ()),
    )
