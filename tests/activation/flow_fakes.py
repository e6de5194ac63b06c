"""Fakes and builders shared by the flow tests: recording ports, plans, AMT answers, a test PKI."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activation.plan.activation_plan import ActivationPlan, ProvisioningCertificate
from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import DeviceRequest
from activation.session import AmtSession
from profiles.models import ActivationMode
from rps_site.sensitive import Secret
from tests.activation.scripted_device import ScriptedDevice, chunked_http

GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"
REALM = "Digest:A4070000000000000000000000000000"
AMT_PROVISIONING_EKU = x509.ObjectIdentifier("2.16.840.1.113741.1.2.3")


@dataclass
class RecordingSecrets:
    """Records every write in order, with the values, so tests can check what reached Vault when."""

    events: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # method names that raise

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise ConnectionError("vault down")

    async def write_initial(self, guid: str, amt_password: Secret, mebx_password: Secret | None) -> None:
        self._maybe_fail("write_initial")
        mebx = mebx_password.reveal() if mebx_password is not None else None
        self.events.append(f"write_initial {amt_password.reveal()} {mebx}")

    async def write_pending(self, guid: str, amt_password: Secret) -> None:
        self._maybe_fail("write_pending")
        self.events.append(f"write_pending {amt_password.reveal()}")

    async def promote_pending(self, guid: str) -> None:
        self._maybe_fail("promote_pending")
        self.events.append("promote_pending")

    async def write_mebx_password(self, guid: str, mebx_password: Secret) -> None:
        self._maybe_fail("write_mebx_password")
        self.events.append(f"write_mebx_password {mebx_password.reveal()}")

    async def confirm_initial(self, guid: str, mode: int) -> None:
        self.events.append(f"confirm_initial {int(mode)}")

    async def forget_initial(self, guid: str) -> None:
        self._maybe_fail("forget_initial")
        self.events.append("forget_initial")


@dataclass
class RecordingProgress:
    texts: list[str] = field(default_factory=list)

    async def report(self, text: str) -> None:
        self.texts.append(text)


async def no_pause(delay: float = 0.0) -> None:
    return None


def device_request(method: str, **payload_fields: Any) -> DeviceRequest:
    payload = {"ver": "16.1.27", "build": "2176", "uuid": GUID, "client": "RPC", "password": "x", "currentMode": 0}
    payload.update(payload_fields)
    frame = json.dumps({"method": method, "payload": base64.b64encode(json.dumps(payload).encode()).decode()})
    request = parse_client_message(frame, client_id="c")
    assert isinstance(request, DeviceRequest), request
    return request


def acm_plan(
    *,
    current_mode: int = 0,
    amt_password: str = "Gen3rated!Pass",
    mebx_password: str = "Mebx!Pass1",
    certificate: ProvisioningCertificate | None = None,
) -> ActivationPlan:
    request = device_request(
        "activate --profile office",
        currentMode=current_mode,
        fqdn="vpro.example.com",
        certHashes=["a" * 64],
    )
    return ActivationPlan(
        profile_name="office",
        mode=ActivationMode.ACM,
        tenant_id="",
        device=request,
        amt_password=Secret(amt_password),
        password_generated=True,
        mebx_password=Secret(mebx_password),
        provisioning_certificate=certificate if certificate is not None else provisioning_chain().certificate,
    )


def ccm_plan(*, current_mode: int = 1, amt_password: str = "Gen3rated!Pass") -> ActivationPlan:
    request = device_request("activate --profile office", currentMode=current_mode)
    return ActivationPlan(
        profile_name="office",
        mode=ActivationMode.CCM,
        tenant_id="",
        device=request,
        amt_password=Secret(amt_password),
        password_generated=False,
    )


def session(device: ScriptedDevice, *, username: str | None = None, password: str | None = None) -> AmtSession:
    return AmtSession(
        device,
        device_guid=GUID,
        username=username if username is not None else device.username,
        password=Secret(password if password is not None else device.password),
        sleep=no_pause,
    )


# --- AMT answers that the fixtures do not cover ------------------------------------------------


def _envelope(namespace: str, body: str) -> bytes:
    return chunked_http(
        "200 OK",
        (
            f'<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:g="{namespace}">'
            f"<a:Body>{body}</a:Body></a:Envelope>"
        ).encode(),
    )


HBS = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
AUTHORIZATION = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
SETUP_AND_CONFIGURATION = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
TIME_SYNC = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_TimeSynchronizationService"


def host_based_setup(mode: int, nonce: bytes = bytes(range(20))) -> bytes:
    return _envelope(
        HBS,
        "<g:IPS_HostBasedSetupService><g:AllowedControlModes>2</g:AllowedControlModes>"
        "<g:AllowedControlModes>1</g:AllowedControlModes>"
        f"<g:ConfigurationNonce>{base64.b64encode(nonce).decode()}</g:ConfigurationNonce>"
        f"<g:CurrentControlMode>{mode}</g:CurrentControlMode></g:IPS_HostBasedSetupService>",
    )


def method_output(namespace: str, method: str, return_value: int, extra: str = "") -> bytes:
    return _envelope(
        namespace,
        f"<g:{method}_OUTPUT><g:ReturnValue>{return_value}</g:ReturnValue>{extra}</g:{method}_OUTPUT>",
    )


# --- a provisioning PKI made in the test ---------------------------------------------------------


@dataclass(frozen=True)
class ProvisioningChain:
    certificate: ProvisioningCertificate
    leaf_key: rsa.RSAPrivateKey
    root_der: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    provisioning: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if provisioning:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, AMT_PROVISIONING_EKU]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@lru_cache(maxsize=1)
def provisioning_chain() -> ProvisioningChain:
    """root → intermediate → leaf (EKU 2.16.840.1.113741.1.2.3), as a domain PFX would carry it."""
    root_key, intermediate_key, leaf_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    root = _issue("Test Root", root_key, "Test Root", root_key, ca=True)
    intermediate = _issue("Test Intermediate", intermediate_key, "Test Root", root_key, ca=True)
    leaf = _issue("vpro.example.com", leaf_key, "Test Intermediate", intermediate_key, ca=False, provisioning=True)
    chain = tuple(c.public_bytes(serialization.Encoding.DER) for c in (leaf, intermediate, root))
    pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ProvisioningChain(ProvisioningCertificate(chain, Secret(pem)), leaf_key, chain[-1])
