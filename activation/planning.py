"""Resolve an activation plan once, before any WS-Man call (DESIGN.md "How an activation flows").

Profile, passwords and, for ACM, the domain and its provisioning chain are read here, and every
check that needs them runs here: the device tenant is allowed, the profile exists, the control
mode fits, the DNS suffix matches a domain, the chain's root is one the device trusts. Each
refusal is a `ProtocolError` whose text names the cause and goes to the client as is.

Synchronous (ORM and hvac); the runner calls it in a worker thread.
"""

from __future__ import annotations

import hashlib
import secrets as random_source
import string

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from activation.plan import ActivationMode, ActivationPlan, ProvisioningCertificate
from activation.protocol import (
    ActivationStart,
    DeviceRequest,
    ProfileActivation,
    ProtocolError,
    check_acm_prerequisites,
    check_activation_mode,
    domain_suffix_candidates,
    domain_suffix_mismatch_text,
    profile_not_found_text,
    runs_acm_checks,
)
from profiles.models import Domain, Profile
from profiles.pfx import PfxRejected, decrypt
from rps_site.sensitive import Secret
from rps_site.vault import domain_certificate_path, profile_passwords_path, secret_store

AMT_PASSWORD_SYMBOLS = "!@#$%^*"
GENERATED_PASSWORD_LENGTH = 16


def generate_amt_password(length: int = GENERATED_PASSWORD_LENGTH) -> Secret:
    """A password AMT accepts (8-32 characters; upper, lower, digit and one of `!@#$%^*`)."""
    alphabet = string.ascii_letters + string.digits + AMT_PASSWORD_SYMBOLS
    while True:
        candidate = "".join(random_source.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in AMT_PASSWORD_SYMBOLS for c in candidate)
        ):
            return Secret(candidate)


def check_device_tenant(request: DeviceRequest) -> None:
    """The device channel is unauthenticated: only operator-listed tenants may be named on it."""
    if request.tenant_id not in settings.DEVICE_TENANTS:
        raise ProtocolError(
            f"Device {request.device_guid} {request.action.value} failed. Tenant {request.tenant_id!r} is not "
            "accepted on the device channel (RPS_DEVICE_TENANTS)."
        )


def find_profile(request: DeviceRequest) -> Profile:
    profile = Profile.objects.filter(tenant_id=request.tenant_id, name__iexact=request.command.profile).first()
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
    for suffix in domain_suffix_candidates(request.payload.fqdn):
        domain = Domain.objects.filter(tenant_id=request.tenant_id, domain_suffix__iexact=suffix).first()
        if domain is not None:
            return domain
    raise ProtocolError(domain_suffix_mismatch_text(request))


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


def resolve_activation_plan(request: DeviceRequest) -> tuple[ActivationPlan, ActivationStart]:
    check_device_tenant(request)
    profile = find_profile(request)
    profile_activation = ProfileActivation(profile.activation)
    start = check_activation_mode(request, profile_activation)
    certificate = None
    if runs_acm_checks(request, profile_activation) and start is not ActivationStart.RECONFIGURE_ACM:
        check_acm_prerequisites(request)
        certificate = provisioning_certificate(request, find_domain(request))
    amt_password, mebx_password = static_passwords(profile)
    plan = ActivationPlan(
        profile_name=profile.name,
        mode=ActivationMode(profile.activation),
        tenant_id=profile.tenant_id,
        device=request,
        amt_password=amt_password or generate_amt_password(),
        password_generated=amt_password is None,
        mebx_password=(mebx_password or generate_amt_password())
        if profile_activation is ProfileActivation.ACM
        else None,
        provisioning_certificate=certificate,
        tags=tuple(str(tag) for tag in profile.tags or ()),
    )
    return plan, start
