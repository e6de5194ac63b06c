"""Where amtsim must behave like real firmware for a server's tests to mean anything (issue 13):

- G1, protocol.md §5.4: an AMT 19+ device presents its factory (RCFG) chain on 16993 only in
  pre-provisioning; once activated, its temporary self-signed leaf, until a server's TLS
  configuration is committed; then the certificate that server installed.
- G2, §4.7.2: a DHCP Put keeps the port's addresses, as the recorded Put answer shows.
- G3: the device reports a factory list of public CA root hashes (`certHashes`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from defusedxml.ElementTree import fromstring

from amtsim import FACTORY_ROOT_HASHES, ControlMode, DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.device.device import DeviceAnswer
from amtsim.device.factory_roots import FACTORY_ROOTS, FACTORY_ROOTS_PEM
from amtsim.device.http_server import DeviceEndpoint
from amtsim.digest import admin_password_hash
from amtsim.pki import shared_on_die_ca
from tests.amtsim.rps_double import get, method, params, put
from tests.amtsim.scripted_rps import RpsConversation, scripted_rps
from tests.amtsim.test_fixture_shapes import InProcessRps, _instance_xml
from tests.amtsim.test_tls_tunnel import _configure_tls
from tests.ca_certificates import self_signed_ca
from tests.shared_reference import wsman_fixture

PASSWORD = "Adm1n!Passw0rd"
AMT_19 = "19.0.5"

# -- G1: which certificate the TLS port presents -------------------------------------------


async def presented_leaf(endpoint: DeviceEndpoint) -> x509.Certificate:
    """The leaf a fresh TLS session on the device's 16993 presents (no verification)."""
    assert endpoint.tls_port is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _reader, writer = await asyncio.open_connection(endpoint.host, endpoint.tls_port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der)


async def leaf_after_restart(endpoint: DeviceEndpoint, previous: x509.Certificate) -> x509.Certificate:
    """AMT restarts its TLS listener after a commit: wait for the new certificate."""
    for _ in range(50):
        await asyncio.sleep(0.1)
        try:
            leaf = await presented_leaf(endpoint)
        except (ConnectionRefusedError, ConnectionResetError):
            continue  # between the old listener and the new one (refused, or reset as the old one closes)
        if leaf != previous:
            return leaf
    raise AssertionError("the TLS listener still presents the previous certificate")


def is_factory_leaf(leaf: x509.Certificate) -> bool:
    intermediate = shared_on_die_ca().intermediate
    if leaf.issuer != intermediate.subject:
        return False
    leaf.verify_directly_issued_by(intermediate)
    return True


def is_self_signed(leaf: x509.Certificate) -> bool:
    if leaf.issuer != leaf.subject:
        return False
    leaf.verify_directly_issued_by(leaf)
    return True


def setup_ccm(device: VirtualAmtDevice) -> InProcessRps:
    """CCM Setup as the local system account; the returned client logs on as admin after it."""
    rps = InProcessRps(device, "$$OsAdmin", device.identity.local_system_password)
    realm = rps.value(get("AMT_GeneralSettings"), "DigestRealm")
    setup = method(
        "IPS_HostBasedSetupService",
        "Setup",
        params(
            NetAdminPassEncryptionType="2", NetworkAdminPassword=admin_password_hash(realm=realm, password=PASSWORD)
        ),
    )
    assert rps.value(setup, "ReturnValue") == "0"
    rps.digest.username, rps.digest.password = "admin", PASSWORD
    return rps


async def test_amt19_tls_port_factory_chain_then_temporary_leaf_then_issued_certificate() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19))
    ca, ca_key = self_signed_ca("MPS root (test)")
    async with serve_device(device) as endpoint:
        factory = await presented_leaf(endpoint)
        assert is_factory_leaf(factory)

        rps = setup_ccm(device)
        # Setup takes effect on CommitChanges: until then the factory chain is still presented.
        assert await presented_leaf(endpoint) == factory
        assert rps.value(method("AMT_SetupAndConfigurationService", "CommitChanges"), "ReturnValue") == "0"

        temporary = await leaf_after_restart(endpoint, factory)
        assert device.state.control_mode is ControlMode.CCM
        assert is_self_signed(temporary) and not is_factory_leaf(temporary)
        assert await presented_leaf(endpoint) == temporary  # one leaf for the whole window

        _configure_tls(device, ca_key, ca.subject)  # key pair, issued leaf, context, settings, commit
        issued = await leaf_after_restart(endpoint, temporary)
        issued.verify_directly_issued_by(ca)

        assert (
            rps.value(
                method("AMT_SetupAndConfigurationService", "Unprovision", params(ProvisioningMode="1")), "ReturnValue"
            )
            == "0"
        )
        after_unprovision = await leaf_after_restart(endpoint, issued)
        assert is_factory_leaf(after_unprovision)
        assert device.state.temporary_tls_identity is None  # the next activation gets a new one


async def test_an_already_activated_amt19_device_presents_its_temporary_leaf() -> None:
    device = VirtualAmtDevice.activated(DeviceIdentity(amt_version=AMT_19), admin_password=PASSWORD)
    async with serve_device(device) as endpoint:
        leaf = await presented_leaf(endpoint)
    assert is_self_signed(leaf) and not is_factory_leaf(leaf)


async def test_a_ccm_commit_without_tls_keeps_the_temporary_leaf() -> None:
    """A later commit that configures no TLS (e.g. the ACM upgrade's) does not bring the factory
    chain back, nor replace the temporary leaf."""
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19))
    async with serve_device(device) as endpoint:
        factory = await presented_leaf(endpoint)
        rps = setup_ccm(device)
        assert rps.value(method("AMT_SetupAndConfigurationService", "CommitChanges"), "ReturnValue") == "0"
        temporary = await leaf_after_restart(endpoint, factory)
        assert rps.value(method("AMT_SetupAndConfigurationService", "CommitChanges"), "ReturnValue") == "0"
        await asyncio.sleep(0.5)  # the listener restarted again
        assert await presented_leaf(endpoint) == temporary


# -- G2: a DHCP Put keeps the lease's addresses -------------------------------------------

PUT_FIXTURE = "AMT_EthernetPortSettings_Put.xml"
ADDRESS_FIELDS = {"IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS"}


def _port_fields(document: bytes) -> dict[str, str]:
    root = fromstring(document)
    port = next(node for node in root.iter() if node.tag.rsplit("}", 1)[-1] == "AMT_EthernetPortSettings")
    return {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in port}


def wired_put(
    device: VirtualAmtDevice, rps: InProcessRps, *, dhcp: bool, sync: bool, shared: bool, keep_ip: bool
) -> DeviceAnswer:
    """The Put a server sends (§4.7.2): the pulled wired object with the three flags set and,
    for DHCP and IP sync, the address fields removed."""
    port = device.state.wired_port.copy()
    port.set("DHCPEnabled", "true" if dhcp else "false")
    port.set("IpSyncEnabled", "true" if sync else "false")
    port.set("SharedStaticIp", "true" if shared else "false")
    if not keep_ip:
        for name in ADDRESS_FIELDS:
            port.remove(name)
    return rps.call(
        put("AMT_EthernetPortSettings", _instance_xml(port), {"InstanceID": "Intel(r) AMT Ethernet Port Settings 0"})
    )


def test_a_dhcp_put_keeps_the_addresses_as_the_recorded_answer_does() -> None:
    recorded = _port_fields(wsman_fixture(PUT_FIXTURE))
    assert recorded["DHCPEnabled"] == "true"
    assert recorded.keys() >= ADDRESS_FIELDS  # what the fixture shows a DHCP Put answer keeps

    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    before = {name: device.state.wired_port.get(name) for name in ADDRESS_FIELDS}
    answer = wired_put(device, InProcessRps(device), dhcp=True, sync=True, shared=False, keep_ip=False)
    assert answer.status == 200
    fields = _port_fields(answer.body)
    assert fields.keys() >= ADDRESS_FIELDS
    assert {name: fields[name] for name in ADDRESS_FIELDS} == before
    assert set(recorded) <= set(fields)  # every field of the recorded answer is answered


def test_a_dhcp_put_cannot_overwrite_the_lease() -> None:
    """With DHCP on, addresses in the Put are not the device's: the lease stays."""
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    lease = device.state.wired_port.get("IPAddress")
    port = device.state.wired_port.copy()
    port.set("IPAddress", "10.66.66.66")
    port.set("DefaultGateway", "10.66.66.1")
    answer = InProcessRps(device).call(
        put("AMT_EthernetPortSettings", _instance_xml(port), {"InstanceID": "Intel(r) AMT Ethernet Port Settings 0"})
    )
    assert answer.status == 200
    assert device.state.wired_port.get("IPAddress") == lease
    assert device.state.wired_port.get("DefaultGateway") == "192.168.6.1"


def test_after_a_dhcp_put_a_static_put_without_ip_sync_keeps_the_addresses() -> None:
    """The DHCP → static (no IP sync) reconfiguration the issue saw fail."""
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    assert wired_put(device, rps, dhcp=True, sync=True, shared=False, keep_ip=False).status == 200
    answer = wired_put(device, rps, dhcp=False, sync=False, shared=False, keep_ip=True)
    assert answer.status == 200, answer.body
    fields = _port_fields(answer.body)
    assert (fields["DHCPEnabled"], fields["IpSyncEnabled"]) == ("false", "false")
    assert fields["IPAddress"] == "192.168.6.20" and fields["SubnetMask"] == "255.255.255.0"


def test_a_static_put_without_ip_sync_and_without_an_address_is_refused() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    rps = InProcessRps(device)
    before = dict(device.state.wired_port.properties)
    answer = wired_put(device, rps, dhcp=False, sync=False, shared=False, keep_ip=False)
    assert answer.status == 400
    assert device.state.wired_port.properties == before


# -- G3: the factory root hashes ---------------------------------------------------------------


def test_factory_hashes_are_those_of_real_self_signed_public_roots() -> None:
    assert len(FACTORY_ROOT_HASHES) == len(set(FACTORY_ROOT_HASHES)) >= 15
    vendors = " ".join(root.name for root in FACTORY_ROOTS)
    for vendor in ("VeriSign", "DigiCert", "Go Daddy", "Starfield", "Entrust", "COMODO", "USERTrust", "Baltimore"):
        assert vendor in vendors
    with warnings.catch_warnings():
        # Some old public roots have a negative serial number; cryptography warns and still reads them.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for root in FACTORY_ROOTS:
            certificate = x509.load_der_x509_certificate(root.der)
            assert certificate.subject == certificate.issuer, root.name
            public_key = certificate.public_key()
            assert isinstance(public_key, rsa.RSAPublicKey) and certificate.signature_hash_algorithm is not None
            # A real root signs itself (most of these with SHA-1, which verify_directly_issued_by refuses).
            public_key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                padding.PKCS1v15(),
                certificate.signature_hash_algorithm,
            )
            assert root.name in certificate.subject.rfc4514_string().replace("\\", "")
            assert root.sha256 == hashlib.sha256(root.der).hexdigest()
    # The hash printed above each certificate in the file says the same as the computed one.
    printed = re.findall(r"^# SHA-256 ([0-9a-f]{64});", FACTORY_ROOTS_PEM.read_text(), re.MULTILINE)
    assert printed == list(FACTORY_ROOT_HASHES)


async def _finish(rps: RpsConversation) -> None:
    await rps.finish("error", {"Status": "done"})


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        pytest.param(DeviceIdentity(), list(FACTORY_ROOT_HASHES), id="factory-default"),
        pytest.param(DeviceIdentity(trusted_root_hashes=["AB" * 32]), ["ab" * 32], id="overridden"),
        pytest.param(DeviceIdentity(trusted_root_hashes=[]), None, id="none-reported"),
    ],
)
async def test_the_client_reports_the_device_root_hashes(identity: DeviceIdentity, expected: list[str] | None) -> None:
    device = VirtualAmtDevice(identity)
    async with serve_device(device) as endpoint, scripted_rps(_finish) as rps:
        await run_rpc(["activate", "-u", rps.url, "-profile", "p"], device_endpoint=endpoint)
    assert rps.conversations[0].device_payload["certHashes"] == expected
