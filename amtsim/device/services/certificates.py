"""Certificate store, key pairs and TLS settings (protocol.md §4.6 steps 7–9, §4.9).

Key pairs are real RSA keys, so the TLS listener can present the certificate a server
issued for them once TLS is committed.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from amtsim.device.services import SERVICE_TABLE, ReturnCode, put_body, require_selector
from amtsim.device.state import CimInstance, StoredCertificate, StoredKeyPair
from amtsim.device.wsman import (
    EndpointReference,
    Properties,
    SoapFault,
    WsmanReply,
    WsmanRequest,
    created_reply,
    empty_reply,
    instance_reply,
    method_reply,
    resource_uri_for,
)
from amtsim.pkcs10 import sign_request_info

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

TLS_SETTING_READ_ONLY = frozenset({"InstanceID", "ElementName", "NonSecureConnectionsSupported"})
TLS_ENDPOINT_COLLECTION = EndpointReference(
    resource_uri_for("AMT_TLSProtocolEndpointCollection"),
    {"ElementName": "TLSProtocolEndpoint Instances Collection"},
)


def _rfc4514_like(name: x509.Name) -> str:
    # AMT prints names as C=..,O=..,CN=.. (root first), as in AMT_PublicKeyCertificate_Pull.xml.
    return ",".join(f"{attribute.rfc4514_attribute_name}={attribute.value!s}" for attribute in reversed(list(name)))


def _certificate_properties(certificate: StoredCertificate) -> Properties:
    return {
        "ElementName": ["Intel(r) AMT Certificate"],
        "InstanceID": [certificate.instance_id],
        "Issuer": [certificate.issuer],
        "ReadOnlyCertificate": ["false"],
        "Subject": [certificate.subject],
        "TrustedRootCertficate": ["true" if certificate.trusted_root else "false"],  # AMT's spelling
        "X509Certificate": [base64.b64encode(certificate.der).decode()],
    }


SERVICE_TABLE.register_enumerable(
    "AMT_PublicKeyCertificate",
    lambda device: [_certificate_properties(certificate) for certificate in device.state.certificates],
)
SERVICE_TABLE.register_enumerable(
    "AMT_PublicPrivateKeyPair",
    lambda device: [
        {
            "DERKey": [base64.b64encode(key_pair.public_der).decode()],
            "ElementName": ["Intel(r) AMT Key"],
            "InstanceID": [key_pair.instance_id],
        }
        for key_pair in device.state.key_pairs
    ],
)


def _certificate_reference(certificate: StoredCertificate) -> EndpointReference:
    return EndpointReference(resource_uri_for("AMT_PublicKeyCertificate"), {"InstanceID": certificate.instance_id})


def _store_certificate(device: VirtualAmtDevice, request: WsmanRequest, *, trusted_root: bool) -> WsmanReply:
    try:
        der = base64.b64decode(request.body_text("CertificateBlob") or "", validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    state = device.state
    if not trusted_root and state.key_pair_for(certificate) is None:
        # A non-root certificate is only useful with its private key, which AMT must hold.
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    stored = StoredCertificate(
        handle=state.allocate_handle(),
        der=der,
        trusted_root=trusted_root,
        subject=_rfc4514_like(certificate.subject),
        issuer=_rfc4514_like(certificate.issuer),
    )
    state.certificates.append(stored)
    return method_reply(request, ReturnCode.SUCCESS, {"CreatedCertificate": [_certificate_reference(stored)]})


@SERVICE_TABLE.register("AMT_PublicKeyManagementService", "AddTrustedRootCertificate")
def add_trusted_root_certificate(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return _store_certificate(device, request, trusted_root=True)


@SERVICE_TABLE.register("AMT_PublicKeyManagementService", "AddCertificate")
def add_certificate(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return _store_certificate(device, request, trusted_root=False)


@SERVICE_TABLE.register("AMT_PublicKeyManagementService", "GenerateKeyPair")
def generate_key_pair(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if request.body_text("KeyAlgorithm") != "0" or request.body_text("KeyLength") != "2048":
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pair = StoredKeyPair(
        handle=device.state.allocate_handle(),
        public_der=key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1),
        private_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    device.state.key_pairs.append(key_pair)
    reference = EndpointReference(resource_uri_for("AMT_PublicPrivateKeyPair"), {"InstanceID": key_pair.instance_id})
    return method_reply(request, ReturnCode.SUCCESS, {"KeyPair": [reference]})


@SERVICE_TABLE.register("AMT_PublicKeyManagementService", "GeneratePKCS10RequestEx")
def generate_pkcs10_request(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    """Sign the server's null-signed request with a key pair the firmware generated: its
    CertificationRequestInfo as given (subject, key, attributes), SHA-256 (`SigningAlgorithm` 1,
    the only one servers send). A request for another key than the referenced one is refused:
    its signature could not verify."""
    references = [
        value for value in request.body_properties().get("KeyPair", []) if isinstance(value, EndpointReference)
    ]
    instance_id = references[0].selectors.get("InstanceID") if references else None
    key_pair = next((pair for pair in device.state.key_pairs if pair.instance_id == instance_id), None)
    if key_pair is None or request.body_text("SigningAlgorithm") != "1":
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    private_key = serialization.load_pem_private_key(key_pair.private_pem, None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    try:
        template = base64.b64decode(request.body_text("NullSignedCertificateRequest") or "", validate=True)
        signed = sign_request_info(template, private_key)
    except (ValueError, binascii.Error):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.signed_requests.append(signed)
    encoded = base64.b64encode(signed).decode()
    return method_reply(request, ReturnCode.SUCCESS, {"SignedCertificateRequest": [encoded]})


@SERVICE_TABLE.register("AMT_PublicKeyCertificate", "Delete")
def delete_certificate(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    instance_id = require_selector(request, "InstanceID")
    state = device.state
    context = state.tls_credential_context
    if context is not None:
        in_use = context.values("ElementInContext")
        if any(isinstance(ref, EndpointReference) and ref.selectors.get("InstanceID") == instance_id for ref in in_use):
            raise SoapFault("e:AccessDenied", "The certificate is in use by a TLS credential context.")
    remaining = [certificate for certificate in state.certificates if certificate.instance_id != instance_id]
    if len(remaining) == len(state.certificates):
        raise SoapFault.invalid_selectors()
    state.certificates = remaining
    return empty_reply(request)


@SERVICE_TABLE.register("AMT_PublicPrivateKeyPair", "Delete")
def delete_key_pair(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    instance_id = require_selector(request, "InstanceID")
    state = device.state
    remaining = [pair for pair in state.key_pairs if pair.instance_id != instance_id]
    if len(remaining) == len(state.key_pairs):
        raise SoapFault.invalid_selectors()
    state.key_pairs = remaining
    return empty_reply(request)


# -- TLS settings ----------------------------------------------------------------------------

SERVICE_TABLE.register_enumerable(
    "AMT_TLSSettingData",
    lambda device: [setting.sorted_properties() for setting in device.state.tls_settings],
    before_activation=True,
)


@SERVICE_TABLE.register("AMT_TLSSettingData", "Put")
def put_tls_setting(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    instance_id = require_selector(request, "InstanceID")
    setting = next((entry for entry in device.state.tls_settings if entry.get("InstanceID") == instance_id), None)
    if setting is None:
        raise SoapFault.invalid_selectors()
    updated = setting.copy()
    updated.replace_writable(put_body(request), TLS_SETTING_READ_ONLY)
    if device.state.identity.enforces_tls and not updated.flag("Enabled"):
        raise SoapFault("e:AccessDenied", "TLS is enforced on this platform and cannot be disabled.")
    if (
        updated.flag("Enabled")
        and device.state.tls_credential_context is None
        and not device.state.identity.enforces_tls
    ):
        # Without a credential context there is no certificate to serve.
        raise SoapFault("e:AccessDenied", "No TLS credential context is configured.")
    setting.properties = updated.properties
    return instance_reply(request, "AMT_TLSSettingData", setting.sorted_properties())


SERVICE_TABLE.register_enumerable(
    "AMT_TLSCredentialContext",
    lambda device: (
        [device.state.tls_credential_context.sorted_properties()] if device.state.tls_credential_context else []
    ),
)


def _credential_context_from(device: VirtualAmtDevice, request: WsmanRequest) -> CimInstance:
    properties = put_body(request)
    element = [value for value in properties.get("ElementInContext", []) if isinstance(value, EndpointReference)]
    if not element:
        raise SoapFault.invalid_representation("ElementInContext must reference a certificate")
    instance_id = element[0].selectors.get("InstanceID")
    if not any(
        certificate.instance_id == instance_id and not certificate.trusted_root
        for certificate in device.state.certificates
    ):
        raise SoapFault.invalid_representation(f"no server certificate with InstanceID {instance_id!r}")
    return CimInstance(
        "AMT_TLSCredentialContext",
        {"ElementInContext": element[0], "ElementProvidingContext": TLS_ENDPOINT_COLLECTION},
    )


@SERVICE_TABLE.register("AMT_TLSCredentialContext", "Create")
def create_tls_credential_context(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if device.state.tls_credential_context is not None:
        raise SoapFault.already_exists()
    context = _credential_context_from(device, request)
    device.state.tls_credential_context = context
    element = context.values("ElementInContext")[0]
    assert isinstance(element, EndpointReference)
    reference = EndpointReference(
        resource_uri_for("AMT_TLSCredentialContext"),
        {"ElementInContext": element, "ElementProvidingContext": TLS_ENDPOINT_COLLECTION},
    )
    return created_reply(request, reference)


@SERVICE_TABLE.register("AMT_TLSCredentialContext", "Put")
def put_tls_credential_context(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    context = _credential_context_from(device, request)
    device.state.tls_credential_context = context
    return instance_reply(request, "AMT_TLSCredentialContext", context.sorted_properties())


@SERVICE_TABLE.register("AMT_TLSCredentialContext", "Delete")
def delete_tls_credential_context(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if device.state.tls_credential_context is None:
        raise SoapFault.invalid_selectors()
    device.state.tls_credential_context = None
    return empty_reply(request)
