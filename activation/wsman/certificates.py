"""Certificates, keys and TLS (protocol.md §4.6 steps 7-9, §4.7.3, §4.9)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from activation.wsman.call import Enumeration, WsmanCall, nothing_to_read
from activation.wsman.envelope import (
    CimObject,
    EndpointReference,
    Selector,
    amt_resource,
    create_request,
    delete_request,
    method_request,
    put_request,
    wsman_bool,
)
from activation.wsman.response import SoapEnvelope, cim_object, method_output, parse_bool, return_value

PUBLIC_KEY_CERTIFICATE_URI: Final = amt_resource("AMT_PublicKeyCertificate")
PUBLIC_PRIVATE_KEY_PAIR_URI: Final = amt_resource("AMT_PublicPrivateKeyPair")
PUBLIC_KEY_MANAGEMENT_SERVICE_URI: Final = amt_resource("AMT_PublicKeyManagementService")
TLS_SETTING_DATA_URI: Final = amt_resource("AMT_TLSSettingData")
TLS_CREDENTIAL_CONTEXT_URI: Final = amt_resource("AMT_TLSCredentialContext")
TLS_PROTOCOL_ENDPOINT_COLLECTION_URI: Final = amt_resource("AMT_TLSProtocolEndpointCollection")
TLS_PUT_TIMEOUT: Final = 15.0  # delay_tls_timer (§3.6)


@dataclass(frozen=True)
class PublicKeyCertificate:
    instance_id: str
    x509_certificate: str  # base64 DER
    trusted_root: bool
    subject: str
    issuer: str


PUBLIC_KEY_CERTIFICATES: Final = Enumeration(
    "AMT_PublicKeyCertificate",
    PUBLIC_KEY_CERTIFICATE_URI,
    lambda instance: PublicKeyCertificate(
        instance_id=instance.value("InstanceID") or "",
        x509_certificate=instance.value("X509Certificate") or "",
        # AMT misspells the property (fixtures INDEX.md)
        trusted_root=parse_bool(instance.value("TrustedRootCertficate"), "TrustedRootCertficate"),
        subject=instance.value("Subject") or "",
        issuer=instance.value("Issuer") or "",
    ),
)


@dataclass(frozen=True)
class KeyPair:
    instance_id: str
    der_key: str  # base64 DER public key


PUBLIC_PRIVATE_KEY_PAIRS: Final = Enumeration(
    "AMT_PublicPrivateKeyPair",
    PUBLIC_PRIVATE_KEY_PAIR_URI,
    lambda instance: KeyPair(instance.value("InstanceID") or "", instance.value("DERKey") or ""),
)


def delete_certificate(instance_id: str) -> WsmanCall[None]:
    return WsmanCall(
        "AMT_PublicKeyCertificate.Delete",
        delete_request(PUBLIC_KEY_CERTIFICATE_URI, Selector("InstanceID", instance_id)),
        nothing_to_read,
    )


def delete_key_pair(instance_id: str) -> WsmanCall[None]:
    return WsmanCall(
        "AMT_PublicPrivateKeyPair.Delete",
        delete_request(PUBLIC_PRIVATE_KEY_PAIR_URI, Selector("InstanceID", instance_id)),
        nothing_to_read,
    )


@dataclass(frozen=True)
class CreatedReference:
    """A method output that names what it created (a certificate or key handle)."""

    return_value: int
    instance_id: str | None

    @property
    def succeeded(self) -> bool:
        return self.return_value == 0


def _created_reference_parser(method: str, reference_name: str) -> Callable[[SoapEnvelope], CreatedReference]:
    def parse(envelope: SoapEnvelope) -> CreatedReference:
        node = method_output(envelope, method)
        output = cim_object(node)
        code = return_value(node)
        reference = output.reference(reference_name)
        return CreatedReference(code, reference.selector("InstanceID") if reference is not None else None)

    return parse


def add_trusted_root_certificate(certificate_der: bytes) -> WsmanCall[CreatedReference]:
    request = method_request(
        PUBLIC_KEY_MANAGEMENT_SERVICE_URI,
        "AddTrustedRootCertificate",
        [("CertificateBlob", base64.b64encode(certificate_der).decode("ascii"))],
    )
    return WsmanCall(
        "AMT_PublicKeyManagementService.AddTrustedRootCertificate",
        request,
        _created_reference_parser("AddTrustedRootCertificate", "CreatedCertificate"),
    )


def add_certificate(certificate_der: bytes) -> WsmanCall[CreatedReference]:
    request = method_request(
        PUBLIC_KEY_MANAGEMENT_SERVICE_URI,
        "AddCertificate",
        [("CertificateBlob", base64.b64encode(certificate_der).decode("ascii"))],
    )
    return WsmanCall(
        "AMT_PublicKeyManagementService.AddCertificate",
        request,
        _created_reference_parser("AddCertificate", "CreatedCertificate"),
    )


def generate_key_pair(*, key_length: int = 2048) -> WsmanCall[CreatedReference]:
    request = method_request(
        PUBLIC_KEY_MANAGEMENT_SERVICE_URI,
        "GenerateKeyPair",
        [("KeyAlgorithm", "0"), ("KeyLength", str(key_length))],  # 0 = RSA
    )
    # Sent once (enterprise-assistant.md B11): RSA generation can outlast the wait, and a resent
    # request would leave a second key pair in AMT.
    return WsmanCall(
        "AMT_PublicKeyManagementService.GenerateKeyPair",
        request,
        _created_reference_parser("GenerateKeyPair", "KeyPair"),
        non_idempotent=True,
    )


@dataclass(frozen=True)
class CertificateRequest:
    return_value: int
    signed_certificate_request: str


def generate_pkcs10_request_ex(*, key_pair_instance_id: str, null_signed_request: str) -> WsmanCall[CertificateRequest]:
    request = method_request(
        PUBLIC_KEY_MANAGEMENT_SERVICE_URI,
        "GeneratePKCS10RequestEx",
        [
            (
                "KeyPair",
                EndpointReference(
                    PUBLIC_PRIVATE_KEY_PAIR_URI, (Selector("InstanceID", key_pair_instance_id),), address="/wsman"
                ),
            ),
            ("SigningAlgorithm", "1"),
            ("NullSignedCertificateRequest", null_signed_request),
        ],
    )

    def parse(envelope: SoapEnvelope) -> CertificateRequest:
        output = method_output(envelope, "GeneratePKCS10RequestEx")
        return CertificateRequest(return_value(output), output.text_of("SignedCertificateRequest") or "")

    return WsmanCall("AMT_PublicKeyManagementService.GeneratePKCS10RequestEx", request, parse)


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsSettingData:
    instance_id: str
    element_name: str
    enabled: bool
    accept_non_secure_connections: bool
    mutual_authentication: bool
    non_secure_connections_supported: bool | None
    instance: CimObject = field(repr=False)

    @property
    def is_remote(self) -> bool:
        """Item 0, "802.3 TLS Settings"; the local one is "LMS TLS Settings"."""
        return "802.3" in self.element_name or "802.3" in self.instance_id


def _tls_setting_data(instance: CimObject) -> TlsSettingData:
    non_secure = instance.value("NonSecureConnectionsSupported")
    return TlsSettingData(
        instance_id=instance.value("InstanceID") or "",
        element_name=instance.value("ElementName") or "",
        enabled=parse_bool(instance.value("Enabled"), "Enabled"),
        accept_non_secure_connections=parse_bool(
            instance.value("AcceptNonSecureConnections"), "AcceptNonSecureConnections"
        ),
        mutual_authentication=parse_bool(instance.value("MutualAuthentication"), "MutualAuthentication"),
        non_secure_connections_supported=None
        if non_secure is None
        else parse_bool(non_secure, "NonSecureConnectionsSupported"),
        instance=instance,
    )


TLS_SETTING_DATA: Final = Enumeration("AMT_TLSSettingData", TLS_SETTING_DATA_URI, _tls_setting_data)


def put_tls_setting_data(
    setting: TlsSettingData,
    *,
    enabled: bool,
    accept_non_secure_connections: bool | None = None,
    mutual_authentication: bool | None = None,
) -> WsmanCall[TlsSettingData]:
    """Selector InstanceID, 15 s timeout; `TrustedCN` is removed as upstream does (§4.6 step 7)."""
    changes: dict[str, str | None] = {"Enabled": wsman_bool(enabled), "TrustedCN": None}
    if accept_non_secure_connections is not None:
        changes["AcceptNonSecureConnections"] = wsman_bool(accept_non_secure_connections)
    if mutual_authentication is not None:
        changes["MutualAuthentication"] = wsman_bool(mutual_authentication)
    instance = setting.instance.with_values(changes)  # type: ignore[arg-type]
    return WsmanCall(
        "AMT_TLSSettingData.Put",
        put_request(instance, (Selector("InstanceID", setting.instance_id),)),
        lambda envelope: _tls_setting_data(cim_object(envelope.body_element("AMT_TLSSettingData"))),
        timeout=TLS_PUT_TIMEOUT,
    )


@dataclass(frozen=True)
class TlsCredentialContext:
    certificate_instance_id: str | None


def _tls_credential_context(instance: CimObject) -> TlsCredentialContext:
    reference = instance.reference("ElementInContext")
    return TlsCredentialContext(reference.selector("InstanceID") if reference is not None else None)


TLS_CREDENTIAL_CONTEXTS: Final = Enumeration(
    "AMT_TLSCredentialContext", TLS_CREDENTIAL_CONTEXT_URI, _tls_credential_context
)


def _tls_credential_context_instance(certificate_instance_id: str) -> CimObject:
    return CimObject(
        "AMT_TLSCredentialContext",
        TLS_CREDENTIAL_CONTEXT_URI,
        (
            (
                "ElementInContext",
                EndpointReference(
                    PUBLIC_KEY_CERTIFICATE_URI, (Selector("InstanceID", certificate_instance_id),), address="/wsman"
                ),
            ),
            (
                "ElementProvidingContext",
                EndpointReference(
                    TLS_PROTOCOL_ENDPOINT_COLLECTION_URI,
                    (Selector("ElementName", "TLSProtocolEndpointInstances Collection"),),
                    address="/wsman",
                ),
            ),
        ),
    )


def create_tls_credential_context(certificate_instance_id: str) -> WsmanCall[None]:
    """§4.9 step 5: a 400 `AlreadyExists` fault means it is already there (the flow tolerates it)."""
    return WsmanCall(
        "AMT_TLSCredentialContext.Create",
        create_request(_tls_credential_context_instance(certificate_instance_id)),
        nothing_to_read,
    )


def put_tls_credential_context(certificate_instance_id: str) -> WsmanCall[None]:
    return WsmanCall(
        "AMT_TLSCredentialContext.Put",
        put_request(_tls_credential_context_instance(certificate_instance_id)),
        nothing_to_read,
    )


def delete_tls_credential_context(certificate_instance_id: str) -> WsmanCall[None]:
    """The context is addressed by its certificate reference (an EPR selector)."""
    reference = EndpointReference(
        PUBLIC_KEY_CERTIFICATE_URI, (Selector("InstanceID", certificate_instance_id),), address="/wsman"
    )
    request = delete_request(TLS_CREDENTIAL_CONTEXT_URI, Selector("ElementInContext", reference))
    return WsmanCall("AMT_TLSCredentialContext.Delete", request, nothing_to_read)
