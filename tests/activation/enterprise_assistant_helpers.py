"""What the Enterprise Assistant tests share: AMT's side of a certificate request (a generated key,
its `DERKey`, PKCS#10 signing) and the EA's answers, built with amtsim's virtual CA and PKCS#10
code, which were written from the spec independently of the server."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from amtsim.pkcs10 import null_signed_request, rsa_public_key_from_pkcs1, sign_request_info
from amtsim.pki import EnterpriseCa, make_enterprise_ca

KEY_INSTANCE_ID = "Intel(r) AMT Key: Handle: 0"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def meshauth(user: str, password: str) -> bytes:
    return f"{b64(user.encode())},{b64(password.encode())}".encode()


@dataclass
class AmtKey:
    """The key pair AMT generates (GenerateKeyPair) and what it signs with it."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def der_key(self) -> str:
        return b64(self.key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))

    def sign(self, null_signed_b64: str) -> str:
        return b64(sign_request_info(base64.b64decode(null_signed_b64), self.key))


@dataclass
class EaAnswers:
    """The current EA's replies (§2.6), built from the request as the real one builds them."""

    ca: EnterpriseCa = field(default_factory=make_enterprise_ca)

    @staticmethod
    def _header(request: dict[str, Any], subaction: str) -> dict[str, Any]:
        return {key: request[key] for key in ("action", "satelliteFlags", "nodeid", "domain", "reqid")} | {
            "subaction": subaction
        }

    def peap(self, request: dict[str, Any], *, password: str = "q3T/9xK+2bLm0PzR7sVa") -> dict[str, Any]:
        response = {
            "authProtocol": 2,
            "domain": "corp.example.com",
            "username": f"iME${request['devname']}$",
            "password": password,
            "rootcert": b64(self.ca.root_der()),
        }
        return {**request, "subaction": "Profile-Completed", "response": response}

    def csr_request(self, request: dict[str, Any]) -> dict[str, Any]:
        public_key = rsa_public_key_from_pkcs1(base64.b64decode(request["DERKey"]))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request["devname"])])
        response = {"csr": b64(null_signed_request(public_key, subject)), "keyInstanceId": request["keyInstanceId"]}
        return self._header(request, "CSR-Request") | {"response": response}

    def issued(self, request: dict[str, Any]) -> dict[str, Any]:
        certificate = self.ca.issue(x509.load_der_x509_csr(base64.b64decode(request["signedcsr"])))
        response = {
            "authProtocol": 0,
            "certificate": b64(certificate.public_bytes(serialization.Encoding.DER)),
            "rootcert": b64(self.ca.root_der()),
            "domain": "corp.example.com",
            "username": f"iME${request['devname']}$",
        }
        return {**request, "subaction": "Profile-Completed", "response": response}
