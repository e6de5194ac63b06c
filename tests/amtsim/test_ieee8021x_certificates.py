"""The virtual device's side of an Enterprise Assistant exchange (enterprise-assistant.md §4, §5,
§11.5): a key pair it generates, the EA's null-signed request it signs with that key, the issued
certificate and root it stores, and the 802.1X settings that reference them, all kept for tests."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID
from defusedxml.ElementTree import fromstring

from amtsim import ControlMode, VirtualAmtDevice
from amtsim.pkcs10 import null_signed_request, rsa_public_key_from_pkcs1
from amtsim.pki import EnterpriseCa, make_enterprise_ca
from tests.amtsim.rps_double import b64, enumerate_, epr, get, method, params, pull, put
from tests.amtsim.test_fixture_shapes import InProcessRps

PASSWORD = "Adm1n!Passw0rd"
ACCEPTED = b"<g:ReturnValue>0</g:ReturnValue>"
KEYS = "AMT_PublicKeyManagementService"
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "desktop-01")])


def activated() -> tuple[VirtualAmtDevice, InProcessRps]:
    device = VirtualAmtDevice.activated(mode=ControlMode.CCM, admin_password=PASSWORD)
    return device, InProcessRps(device)


def _text(body: bytes, name: str) -> str | None:
    return next((node.text or "" for node in fromstring(body).iter() if node.tag.rsplit("}", 1)[-1] == name), None)


def generate_key_pair(rps: InProcessRps) -> tuple[str, str]:
    """(InstanceID, DERKey) as a server reads them: GenerateKeyPair, then the key pairs' Pull."""
    handle = rps.value(method(KEYS, "GenerateKeyPair", params(KeyAlgorithm="0", KeyLength="2048")), "Selector")
    context = rps.value(enumerate_("AMT_PublicPrivateKeyPair"), "EnumerationContext")
    body = fromstring(rps.call(pull("AMT_PublicPrivateKeyPair", context)).body)
    pairs = [
        {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
        for node in body.iter()
        if node.tag.endswith("}AMT_PublicPrivateKeyPair")
    ]
    return handle, next(pair["DERKey"] for pair in pairs if pair["InstanceID"] == handle)


def sign(rps: InProcessRps, key_instance_id: str, request: bytes, *, algorithm: str = "1") -> str | None:
    """GeneratePKCS10RequestEx: the SignedCertificateRequest, or None when AMT refused."""
    body = (
        "<h:KeyPair>"
        + epr("AMT_PublicPrivateKeyPair", {"InstanceID": key_instance_id})
        + f"</h:KeyPair><h:SigningAlgorithm>{algorithm}</h:SigningAlgorithm>"
        + f"<h:NullSignedCertificateRequest>{b64(request)}</h:NullSignedCertificateRequest>"
    )
    answer = rps.call(method(KEYS, "GeneratePKCS10RequestEx", body)).body
    return _text(answer, "SignedCertificateRequest") if ACCEPTED in answer else None


def add(rps: InProcessRps, operation: str, certificate: x509.Certificate) -> str | None:
    """AddCertificate / AddTrustedRootCertificate: the created certificate's InstanceID, or None."""
    blob = b64(certificate.public_bytes(serialization.Encoding.DER))
    answer = rps.call(method(KEYS, operation, params(CertificateBlob=blob))).body
    return _text(answer, "Selector") if ACCEPTED in answer else None


def issued_certificate(rps: InProcessRps, ca: EnterpriseCa) -> tuple[str, x509.Certificate]:
    key_instance_id, der_key = generate_key_pair(rps)
    template = null_signed_request(rsa_public_key_from_pkcs1(base64.b64decode(der_key)), SUBJECT)
    signed = sign(rps, key_instance_id, template)
    assert signed is not None
    return key_instance_id, ca.issue(x509.load_der_x509_csr(base64.b64decode(signed)))


def test_amt_signs_the_eas_request_with_the_key_it_generated() -> None:
    device, rps = activated()
    key_instance_id, der_key = generate_key_pair(rps)
    public_key = rsa_public_key_from_pkcs1(base64.b64decode(der_key))
    template = null_signed_request(public_key, SUBJECT)
    signed = sign(rps, key_instance_id, template)
    assert signed is not None
    request = x509.load_der_x509_csr(base64.b64decode(signed))
    assert request.is_signature_valid and request.public_key() == public_key and request.subject == SUBJECT
    # The CertificationRequestInfo is the EA's, byte for byte; only the signature is AMT's.
    public_key.verify(request.signature, request.tbs_certrequest_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert template.startswith(b"\x30") and request.tbs_certrequest_bytes in template
    assert device.state.signed_requests == [base64.b64decode(signed)]


def test_amt_refuses_to_sign_for_a_key_it_does_not_hold() -> None:
    device, rps = activated()
    key_instance_id, der_key = generate_key_pair(rps)
    own = null_signed_request(rsa_public_key_from_pkcs1(base64.b64decode(der_key)), SUBJECT)
    foreign = null_signed_request(make_enterprise_ca().root_key.public_key(), SUBJECT)
    assert sign(rps, "Intel(r) AMT Key: Handle: 99", own) is None  # S11: an unknown reference
    assert sign(rps, key_instance_id, foreign) is None  # a template for another key
    assert sign(rps, key_instance_id, own, algorithm="0") is None  # only SHA-256 is modelled
    assert sign(rps, key_instance_id, b"\x30\x03\x02\x01\x00") is None
    assert device.state.signed_requests == []


def test_the_issued_certificate_is_kept_with_its_root_and_matches_the_generated_key() -> None:
    device, rps = activated()
    ca = make_enterprise_ca()
    _, certificate = issued_certificate(rps, ca)
    client_handle = add(rps, "AddCertificate", certificate)
    root_handle = add(rps, "AddTrustedRootCertificate", ca.root)
    assert client_handle and root_handle
    stored = device.state.certificate(client_handle)
    assert stored is not None and not stored.trusted_root
    stored.certificate.verify_directly_issued_by(ca.root)
    key_pair = device.state.key_pair_for(stored.certificate)
    assert key_pair is not None and key_pair is device.state.key_pairs[-1]
    root = device.state.certificate(root_handle)
    assert root is not None and root.trusted_root and root.certificate == ca.root
    # A client certificate for a key AMT does not hold is refused (it could never be used).
    other = make_enterprise_ca()
    assert add(rps, "AddCertificate", other.root) is None


def test_wired_8021x_references_the_certificates() -> None:
    device, rps = activated()
    ca = make_enterprise_ca()
    _, certificate = issued_certificate(rps, ca)
    client, root = add(rps, "AddCertificate", certificate), add(rps, "AddTrustedRootCertificate", ca.root)
    assert client and root

    def set_certificates(issuer: str | None, client_certificate: str | None) -> bool:
        body = ""
        if issuer:
            body += f"<h:ServerCertificateIssuer>{epr('AMT_PublicKeyCertificate', {'InstanceID': issuer})}"
            body += "</h:ServerCertificateIssuer>"
        if client_certificate:
            body += f"<h:ClientCertificate>{epr('AMT_PublicKeyCertificate', {'InstanceID': client_certificate})}"
            body += "</h:ClientCertificate>"
        return ACCEPTED in rps.call(method("IPS_IEEE8021xSettings", "SetCertificates", body)).body

    assert not set_certificates(client, root)  # roles swapped
    assert not set_certificates("Intel(r) AMT Certificate: Handle: 77", None)
    assert not set_certificates(None, None)
    assert device.state.ieee8021x_certificates == {}
    assert set_certificates(root, None)  # PEAP: the RADIUS server's issuer alone
    assert set_certificates(root, client)
    assert device.state.ieee8021x_certificates == {"ServerCertificateIssuer": root, "ClientCertificate": client}
    settings = (
        "<h:ElementName>Intel(r) AMT: 8021X Settings wired</h:ElementName><h:Enabled>2</h:Enabled>"
        "<h:AvailableInS0>true</h:AvailableInS0><h:AuthenticationProtocol>0</h:AuthenticationProtocol>"
        "<h:Username>iME$desktop-01$</h:Username><h:PxeTimeout>120</h:PxeTimeout>"
    )
    assert rps.call(put("IPS_IEEE8021xSettings", settings)).status == 200
    assert device.state.ieee8021x.get("Username") == "iME$desktop-01$"
    assert device.state.ieee8021x.get("AuthenticationProtocol") == "0"
    assert b"iME$desktop-01$" in rps.call(get("IPS_IEEE8021xSettings")).body


def add_wifi(rps: InProcessRps, name: str, priority: int, protocol: str, credentials: dict[str, str]) -> bool:
    settings = (
        '<h:WiFiEndpointSettingsInput xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_WiFiEndpointSettings">'
        f"<q:ElementName>{name}</q:ElementName><q:InstanceID>Intel(r) AMT:WiFi Endpoint Settings {name}</q:InstanceID>"
        "<q:AuthenticationMethod>7</q:AuthenticationMethod><q:EncryptionMethod>4</q:EncryptionMethod>"
        f"<q:SSID>corp</q:SSID><q:Priority>{priority}</q:Priority></h:WiFiEndpointSettingsInput>"
    )
    ieee8021x = (
        '<h:IEEE8021xSettingsInput xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_IEEE8021xSettings">'
        f"<q:ElementName>{name}-8021x</q:ElementName><q:AuthenticationProtocol>{protocol}</q:AuthenticationProtocol>"
        "<q:Username>iME$desktop-01$</q:Username>"
        + ("<q:Password>q3T/9xK+2bLm0PzR7sVa</q:Password>" if protocol == "2" else "")
        + "</h:IEEE8021xSettingsInput>"
    )
    references = "".join(
        f"<h:{role}>{epr('AMT_PublicKeyCertificate', {'InstanceID': handle})}</h:{role}>"
        for role, handle in credentials.items()
    )
    endpoint = "<h:WiFiEndpoint>" + epr("CIM_WiFiEndpoint", {"Name": "WiFi Endpoint 0"}) + "</h:WiFiEndpoint>"
    answer = rps.call(
        method("AMT_WiFiPortConfigurationService", "AddWiFiSettings", endpoint + settings + ieee8021x + references)
    )
    return ACCEPTED in answer.body


def test_wifi_8021x_profiles_keep_their_own_certificates() -> None:
    device, rps = activated()
    ca = make_enterprise_ca()
    root = add(rps, "AddTrustedRootCertificate", ca.root)
    first, second = (add(rps, "AddCertificate", issued_certificate(rps, ca)[1]) for _ in range(2))
    assert root and first and second and first != second
    assert not add_wifi(rps, "tls-a", 1, "0", {"CACredential": root})  # EAP-TLS needs its client certificate
    assert not add_wifi(rps, "tls-a", 1, "0", {"ClientCredential": root, "CACredential": first})  # roles swapped
    assert add_wifi(rps, "tls-a", 1, "0", {"ClientCredential": first, "CACredential": root})
    assert add_wifi(rps, "tls-b", 2, "0", {"ClientCredential": second, "CACredential": root})
    assert add_wifi(rps, "peap", 3, "2", {"CACredential": root})
    credentials = device.state.wifi_ieee8021x_credentials
    assert credentials["Intel(r) AMT:WiFi Endpoint Settings tls-a"] == {"ClientCredential": first, "CACredential": root}
    assert credentials["Intel(r) AMT:WiFi Endpoint Settings tls-b"]["ClientCredential"] == second
    assert credentials["Intel(r) AMT:WiFi Endpoint Settings peap"] == {"CACredential": root}
    for handle in (first, second):
        stored = device.state.certificate(handle)
        assert stored is not None and device.state.key_pair_for(stored.certificate) is not None
    unprovision = method("AMT_SetupAndConfigurationService", "Unprovision", params(ProvisioningMode="1"))
    assert ACCEPTED in rps.call(unprovision).body
    state = device.state
    assert state.wifi_ieee8021x_credentials == {} and state.ieee8021x_certificates == {}
    assert state.signed_requests == [] and state.key_pairs == [] and state.certificates == []
