"""TLS configuration (protocol.md §4.9) with the time sync it carries.

Applied whenever the profile sets `tlsMode`, on every path. Upstream v2.40 skips it on AMT < 19
without `--tls-tunnel`: a documented deviation. The device's key pair is generated in AMT; RPS
signs AMT's public key with the MPS CA from `MPSCerts` (or, for `tlsSigningAuthority`
MicrosoftCA, the Enterprise Assistant gets it signed: `enterprise_tls`) and keeps the leaf as
`TLS_ISSUED_CERTIFICATE` in `devices/<guid>`. Through the TLS tunnel, a device that already
presents that certificate keeps its TLS ("Already configured", §5.5).
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from activation.flows.components import ComponentFailed, Pause, cause_of
from activation.flows.enterprise_certificates import EnterpriseAssistantScope
from activation.flows.enterprise_tls import certificate_from_microsoft_ca
from activation.flows.ports import DeviceSecretsPort, ProgressPort
from activation.plan.activation_plan import ActivationPlan
from activation.plan.configuration_plan import MpsCertificateAuthority, TlsPlan
from activation.protocol.status import ActivationStatus, Component, ComponentResult, ComponentStatus
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.unexpected_failures import unexpected_failure
from activation.wsman import certificates, setup, time_sync
from activation.wsman.response import WsmanFault

LEAF_LIFETIME = timedelta(days=3650)


TLS_CONFIGURED = "Configured"
TLS_ALREADY_CONFIGURED = "Already configured"


def mark_tls_configured(status: ActivationStatus) -> None:
    """TLS configured inside an activation flow, as the client and MPS are told."""
    status.tls_configuration = TLS_CONFIGURED
    status.components[Component.TLS] = ComponentStatus(ComponentResult.SUCCESS, TLS_CONFIGURED)


async def configure_tls_while_activating(
    amt: AmtSession,
    tls: TlsPlan,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    pause: Pause,
) -> x509.Certificate:
    """§4.9 inside an activation flow (AMT 19+ ACM between its phases, `--tls-tunnel` before the
    port switch), with the hostname the client reported: the certificate AMT now serves. Raises
    `ComponentFailed`."""
    return await configure_tls(
        amt,
        tls,
        device_guid=plan.device_guid,
        hostname=plan.device.payload.hostname,
        secrets=secrets,
        progress=progress,
        pause=pause,
    )


async def serves_issued_certificate(amt: AmtSession, device_guid: str, secrets: DeviceSecretsPort) -> bool:
    """§5.5 "Already-activated TLS devices": the leaf AMT presents in the tunnel is the one RPS
    issued it (`TLS_ISSUED_CERTIFICATE`), so TLS is left as it is instead of being provisioned
    again (a new key pair and certificate on the device at every reconfiguration). Always false
    on the plain port, where no TLS session shows the device's certificate.

    Raises `ComponentFailed` when the stored certificate cannot be read."""
    presented = amt.presented_certificate()
    if presented is None:
        return False
    try:
        stored_pem = await secrets.read_tls_certificate(device_guid)
    except Exception as error:
        raise ComponentFailed("Failed to read the issued TLS certificate", unexpected_failure(error)) from None
    if not stored_pem:
        return False
    try:
        stored = x509.load_pem_x509_certificate(stored_pem.encode("ascii"))
    except ValueError:
        return False
    return stored.public_bytes(serialization.Encoding.DER) == presented


async def configure_tls(
    amt: AmtSession,
    plan: TlsPlan,
    *,
    device_guid: str,
    hostname: str,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    pause: Pause,
) -> x509.Certificate:
    """The certificate AMT now serves. Raises `ComponentFailed` with the status text of the step
    that failed."""
    await progress.report("Configuring TLS")
    if plan.problem:
        raise ComponentFailed(plan.problem)
    if plan.microsoft_ca_tenant is not None:
        scope = EnterpriseAssistantScope(tenant_id=plan.microsoft_ca_tenant, device_name=hostname)
        leaf, handle = await certificate_from_microsoft_ca(amt, scope)
    else:
        leaf, handle = await _mps_signed_certificate(amt, plan, device_guid=device_guid, hostname=hostname)
    await _serve_certificate(amt, plan, handle, pause)
    # Until now an AMT 19+ tunnel carried the device's temporary self-signed leaf, unverified (the
    # digest password guarded that window, §5.4); every session from here on must present this one.
    amt.expect_device_certificate(leaf.public_bytes(serialization.Encoding.DER))

    # 9. Keep the issued leaf beside the device's passwords.
    try:
        await secrets.write_tls_certificate(device_guid, leaf.public_bytes(serialization.Encoding.PEM).decode())
    except Exception as error:  # storage failure: TLS is on, but Vault does not know the leaf
        raise ComponentFailed(
            "Failed to save the TLS certificate to the secret provider", unexpected_failure(error)
        ) from None
    await progress.report("TLS configuration completed")
    return leaf


async def _mps_signed_certificate(
    amt: AmtSession, plan: TlsPlan, *, device_guid: str, hostname: str
) -> tuple[x509.Certificate, str]:
    """§4.9 steps 1-4: the trusted root, a key pair generated in AMT, its leaf signed with the MPS
    CA and added to AMT. The leaf and its handle."""
    if plan.authority is None or plan.trusted_root_der is None:
        raise ComponentFailed("Failed to fetch MPS root key for post-provisioning TLS")

    # 1-2. The trusted root (kept if AMT already holds it).
    try:
        stored = await amt.enumerate(certificates.PUBLIC_KEY_CERTIFICATES)
        root_b64 = base64.b64encode(plan.trusted_root_der).decode("ascii")
        if not any(entry.x509_certificate == root_b64 for entry in stored):
            added = await amt.call(certificates.add_trusted_root_certificate(plan.trusted_root_der))
            if not added.succeeded:
                raise ComponentFailed("Failed to add trusted root certificate", f"ReturnValue {added.return_value}")
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to add trusted root certificate", cause_of(error)) from None

    # 3. A key pair generated in AMT, and its public key.
    try:
        generated = await amt.call(certificates.generate_key_pair())
        if not generated.succeeded or not generated.instance_id:
            raise ComponentFailed("Failed to generate key pair", f"ReturnValue {generated.return_value}")
        key_pairs = await amt.enumerate(certificates.PUBLIC_PRIVATE_KEY_PAIRS)
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to generate key pair", cause_of(error)) from None
    public_key_b64 = next((pair.der_key for pair in key_pairs if pair.instance_id == generated.instance_id), "")
    if not public_key_b64:
        raise ComponentFailed("Failed to generate key pair", f"{generated.instance_id} not listed by AMT")

    # 4. The leaf certificate, signed with the MPS CA.
    try:
        leaf = issue_device_certificate(
            base64.b64decode(public_key_b64), plan.authority, common_name=f"AMT-{hostname or device_guid}"
        )
    except ValueError as error:
        raise ComponentFailed("Failed to issue the device certificate", type(error).__name__) from None
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    try:
        added = await amt.call(certificates.add_certificate(leaf_der))
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to add certificate", cause_of(error)) from None
    if not added.succeeded or not added.instance_id:
        raise ComponentFailed("Failed to add certificate", f"ReturnValue {added.return_value}")
    return leaf, added.instance_id


async def _serve_certificate(amt: AmtSession, plan: TlsPlan, handle: str, pause: Pause) -> None:
    """§4.9 steps 5-8: AMT's TLS listeners use the certificate `handle`."""
    # 5. The TLS credential context points at the new certificate.
    try:
        contexts = await amt.enumerate(certificates.TLS_CREDENTIAL_CONTEXTS)
        context_call = (
            certificates.put_tls_credential_context(handle)
            if contexts
            else certificates.create_tls_credential_context(handle)
        )
        try:
            await amt.call(context_call)
        except WsmanFault as fault:
            if "AlreadyExists" not in fault.subcode:
                raise
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to create TLS credential context", cause_of(error)) from None

    # 6. Time sync: AMT checks certificate validity against its clock. A failure does not stop TLS.
    await _synchronize_time(amt)

    # 7. Remote (802.3) TLS as the mode says, then local (LMS) TLS.
    try:
        settings = await amt.enumerate(certificates.TLS_SETTING_DATA)
        remote = next((setting for setting in settings if setting.is_remote), settings[0])
        local = next((setting for setting in settings if setting is not remote), None)
        accept_non_secure = None
        if remote.non_secure_connections_supported is not False:
            accept_non_secure = plan.mode not in (1, 3)
        await amt.call(
            certificates.put_tls_setting_data(
                remote,
                enabled=True,
                accept_non_secure_connections=accept_non_secure,
                mutual_authentication=plan.mode in (3, 4),
            )
        )
        await pause()
        if local is not None:
            await amt.call(certificates.put_tls_setting_data(local, enabled=True))
    except (*CALL_ERRORS, IndexError) as error:
        raise ComponentFailed("Failed to update TLS settings", cause_of(error)) from None

    # 8. Commit: AMT restarts its TLS listener with the new certificate.
    try:
        commit = await amt.call(setup.commit_changes())
    except CALL_ERRORS as error:
        raise ComponentFailed("Failed to commit TLS settings", cause_of(error)) from None
    if not commit.succeeded:
        raise ComponentFailed("Failed to commit TLS settings", f"ReturnValue {commit.return_value}")


async def _synchronize_time(amt: AmtSession) -> None:
    try:
        low = await amt.call(time_sync.get_low_accuracy_time_synch())
        if low.return_value != 0 or low.ta0 is None:
            return
        now = int(time.time())
        await amt.call(time_sync.set_high_accuracy_time_synch(ta0=low.ta0, tm1=now, tm2=now))
    except CALL_ERRORS as error:
        cause_of(error)


def issue_device_certificate(
    public_key_der: bytes, authority: MpsCertificateAuthority, *, common_name: str
) -> x509.Certificate:
    """§4.9 step 4: subject `CN=AMT-<host>, O=None, ST=None`, issuer the MPS CA, EKU serverAuth,
    validity inside the CA's. (`C=None` is left out: a country name has two letters.)"""
    public_key = serialization.load_der_public_key(public_key_der)
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("AMT's key pair is not RSA")
    ca = x509.load_der_x509_certificate(authority.certificate_der)
    ca_key = serialization.load_pem_private_key(authority.private_key_pem.reveal().encode("ascii"), password=None)
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise ValueError("the MPS root key is not RSA")
    now = datetime.now(UTC)
    not_before = max(now - timedelta(days=1), ca.not_valid_before_utc)
    not_after = min(now + LEAF_LIFETIME, ca.not_valid_after_utc)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "None"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "None"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
