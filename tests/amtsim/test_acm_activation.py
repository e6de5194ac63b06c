"""ACM: the provisioning chain, the signature over the nonces, and their refusals (§4.2, §4.3)."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, serve_device
from amtsim.digest import admin_password_hash
from amtsim.pki import ProvisioningChain, make_provisioning_chain
from tests.amtsim.rps_double import DirectWsman, b64, get, method, params
from tests.amtsim.test_fixture_shapes import InProcessRps

PASSWORD = "Adm1n!Passw0rd"


@pytest.fixture(scope="module")
def chain() -> ProvisioningChain:
    return make_provisioning_chain("vprodemo.com")


def _device(chain: ProvisioningChain, **identity: object) -> VirtualAmtDevice:
    trusted = identity.pop("trusted_root_hashes", [chain.root_sha256])
    return VirtualAmtDevice(DeviceIdentity(dns_suffix="vprodemo.com", trusted_root_hashes=trusted, **identity))  # type: ignore[arg-type]


def _add_cert(der: bytes, *, leaf: bool, root: bool) -> str:
    return method(
        "IPS_HostBasedSetupService",
        "AddNextCertInChain",
        params(
            NextCertificate=b64(der),
            IsLeafCertificate="true" if leaf else "false",
            IsRootCertificate="true" if root else "false",
        ),
    )


def _admin_setup(realm: str, mc_nonce: bytes, signature: bytes) -> str:
    return method(
        "IPS_HostBasedSetupService",
        "AdminSetup",
        params(
            NetAdminPassEncryptionType="2",
            NetworkAdminPassword=admin_password_hash(realm=realm, password=PASSWORD),
            McNonce=b64(mc_nonce),
            SigningAlgorithm="2",
            DigitalSignature=b64(signature),
        ),
    )


async def _send_chain(rps: DirectWsman, chain: ProvisioningChain) -> list[str | None]:
    ders = chain.ders()
    results = []
    for index, der in enumerate(ders):
        answer = await rps.call(_add_cert(der, leaf=index == 0, root=index == len(ders) - 1))
        results.append(answer.find("ReturnValue"))
    return results


async def _nonce(rps: DirectWsman) -> bytes:
    answer = await rps.call(get("IPS_HostBasedSetupService"))
    nonce = base64.b64decode(answer.find("ConfigurationNonce") or "")
    assert len(nonce) == 20
    return nonce


async def test_good_chain_activates_acm(chain: ProvisioningChain) -> None:
    device = _device(chain)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        realm = (await rps.call(get("AMT_GeneralSettings"))).find("DigestRealm") or ""
        firmware_nonce = await _nonce(rps)
        assert await _send_chain(rps, chain) == ["0", "0", "0"]
        mc_nonce = secrets.token_bytes(20)
        answer = await rps.call(_admin_setup(realm, mc_nonce, chain.sign_nonces(firmware_nonce, mc_nonce)))
        assert answer.find("ReturnValue") == "0"
        rps.switch_credentials("admin", PASSWORD)
        mode = (await rps.call(get("IPS_HostBasedSetupService"))).find("CurrentControlMode")
    assert mode == "2"
    assert device.state.control_mode is ControlMode.ACM
    assert device.state.admin_password_matches(PASSWORD)
    assert device.state.activated_by_chain == chain.ders()


async def test_organizational_unit_marks_a_leaf_too() -> None:
    chain = make_provisioning_chain(
        "vprodemo.com", with_provisioning_oid=False, with_client_setup_ou=True, intermediate=False
    )
    device = _device(chain)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        assert await _send_chain(rps, chain) == ["0", "0"]


async def test_untrusted_root_is_refused(chain: ProvisioningChain) -> None:
    device = _device(chain, trusted_root_hashes=["ab" * 32])
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        results = await _send_chain(rps, chain)
    assert results[:2] == ["0", "0"]
    assert results[2] not in ("0", None)
    assert "trusted list" in device.state.setup_errors[-1]


async def test_sha1_and_sha384_root_hashes_are_matched_too(chain: ProvisioningChain) -> None:
    from amtsim.pki import certificate_fingerprint

    for algorithm in ("sha1", "sha384"):
        device = _device(chain, trusted_root_hashes=[certificate_fingerprint(chain.root, algorithm).upper()])
        async with serve_device(device) as endpoint:
            rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
            assert await _send_chain(rps, chain) == ["0", "0", "0"]


@pytest.mark.parametrize(
    "leaf_common_name", ["provisioning.otherdomain.com", "vprodemo.com.evil.net", "notvprodemo.com"]
)
async def test_leaf_outside_the_dns_suffix_is_refused(leaf_common_name: str) -> None:
    chain = make_provisioning_chain("vprodemo.com", leaf_common_name=leaf_common_name, intermediate=False)
    device = _device(chain)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        results = await _send_chain(rps, chain)
    assert results[0] not in ("0", None)
    assert "not under DNS suffix" in device.state.setup_errors[0]


async def test_leaf_without_provisioning_oid_or_ou_is_refused() -> None:
    chain = make_provisioning_chain("vprodemo.com", with_provisioning_oid=False, intermediate=False)
    device = _device(chain)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        assert (await _send_chain(rps, chain))[0] not in ("0", None)


async def test_chain_out_of_order_is_refused(chain: ProvisioningChain) -> None:
    device = _device(chain)
    leaf, intermediate, root = chain.ders()
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        assert (await rps.call(_add_cert(leaf, leaf=True, root=False))).find("ReturnValue") == "0"
        # The root did not sign the leaf directly.
        assert (await rps.call(_add_cert(root, leaf=False, root=True))).find("ReturnValue") != "0"
    assert not device.state.chain_complete


async def test_bad_signature_and_replayed_nonces_are_refused(chain: ProvisioningChain) -> None:
    device = _device(chain)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    imposter = ProvisioningChain(leaf_key=other_key, certificates=chain.certificates)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        realm = device.state.realm
        first_nonce = await _nonce(rps)
        await _send_chain(rps, chain)

        # 1. Signed with a key that is not the leaf's.
        mc_nonce = secrets.token_bytes(20)
        bad = await rps.call(_admin_setup(realm, mc_nonce, imposter.sign_nonces(first_nonce, mc_nonce)))
        assert bad.find("ReturnValue") not in ("0", None)
        assert device.state.control_mode is ControlMode.PRE_PROVISIONING

        # 2. A good signature over the firmware nonce that attempt 1 already spent.
        replay = secrets.token_bytes(20)
        spent = await rps.call(_admin_setup(realm, replay, chain.sign_nonces(first_nonce, replay)))
        assert spent.find("ReturnValue") not in ("0", None)

        # 3. A fresh firmware nonce, but the client nonce of attempt 1 again.
        second_nonce = await _nonce(rps)
        reused = await rps.call(_admin_setup(realm, mc_nonce, chain.sign_nonces(second_nonce, mc_nonce)))
        assert reused.find("ReturnValue") not in ("0", None)
        assert device.state.control_mode is ControlMode.PRE_PROVISIONING

        # 4. Everything fresh: accepted, so 1-3 failed for the reasons under test.
        third_nonce = await _nonce(rps)
        fresh = secrets.token_bytes(20)
        good = await rps.call(_admin_setup(realm, fresh, chain.sign_nonces(third_nonce, fresh)))
        assert good.find("ReturnValue") == "0"
    assert device.state.control_mode is ControlMode.ACM
    reasons = device.state.setup_errors
    assert "does not verify" in reasons[0]
    assert "no configuration nonce" in reasons[1]
    assert "McNonce was used before" in reasons[2]


async def test_admin_setup_without_chain_is_refused(chain: ProvisioningChain) -> None:
    device = _device(chain)
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        firmware_nonce = await _nonce(rps)
        mc_nonce = secrets.token_bytes(20)
        answer = await rps.call(_admin_setup(device.state.realm, mc_nonce, chain.sign_nonces(firmware_nonce, mc_nonce)))
    assert answer.find("ReturnValue") not in ("0", None)


async def test_upgrade_client_to_admin(chain: ProvisioningChain) -> None:
    device = VirtualAmtDevice.activated(
        DeviceIdentity(dns_suffix="vprodemo.com", trusted_root_hashes=[chain.root_sha256]), admin_password=PASSWORD
    )
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "admin", PASSWORD)
        firmware_nonce = await _nonce(rps)
        assert await _send_chain(rps, chain) == ["0", "0", "0"]
        mc_nonce = secrets.token_bytes(20)
        upgrade = method(
            "IPS_HostBasedSetupService",
            "UpgradeClientToAdmin",
            params(
                McNonce=b64(mc_nonce),
                SigningAlgorithm="2",
                DigitalSignature=b64(chain.sign_nonces(firmware_nonce, mc_nonce)),
            ),
        )
        assert (await rps.call(upgrade)).find("ReturnValue") == "0"
    assert device.state.control_mode is ControlMode.ACM
    assert device.state.admin_password_matches(PASSWORD)


async def test_tls_enforced_device_refuses_admin_setup(chain: ProvisioningChain) -> None:
    """AMT 19+ is activated CCM first and upgraded later (§5.5); AdminSetup is refused."""
    device = _device(chain, amt_version="19.0.5")
    rps = InProcessRps(device, "$$OsAdmin", device.identity.local_system_password)
    firmware_nonce = base64.b64decode(rps.value(get("IPS_HostBasedSetupService"), "ConfigurationNonce"))
    ders = chain.ders()
    for index, der in enumerate(ders):
        assert rps.value(_add_cert(der, leaf=index == 0, root=index == len(ders) - 1), "ReturnValue") == "0"
    mc_nonce = secrets.token_bytes(20)
    answer = rps.value(
        _admin_setup(device.state.realm, mc_nonce, chain.sign_nonces(firmware_nonce, mc_nonce)), "ReturnValue"
    )
    assert answer == "16"
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
