"""`resolve_configuration_plan` against the real models and OpenBao: priorities, secrets as
`Secret`, and each unusable config carrying the cause its component will report."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization

from activation.plan.configuration_plan import MPS_ROOT_KEY_MISSING, resolve_configuration_plan
from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import DeviceRequest
from profiles.models import (
    CiraConfig,
    Ieee8021xConfig,
    Profile,
    ProfileProxyConfig,
    ProfileWirelessConfig,
    ProxyConfig,
    WirelessConfig,
)
from rps_site.sensitive import Secret
from rps_site.vault import MPS_CERTIFICATES_PATH, cira_config_path, ieee8021x_config_path, wireless_config_path
from tests.ca_certificates import self_signed_ca

pytestmark = pytest.mark.django_db

PSK = "plan-psk-canary-1"
DOT1X = "plan-dot1x-canary-2"
MPS = "Plan!Mps-canary3"


def device_request(method: str) -> DeviceRequest:
    payload = {
        "ver": "16.1.27",
        "build": "2176",
        "uuid": "4c4c4544-0046-3610-8052-b5c04f4c5032",
        "client": "RPC",
        "password": "x",
        "currentMode": 0,
        "hostname": "pc-1",
    }
    frame = json.dumps({"method": method, "payload": base64.b64encode(json.dumps(payload).encode()).decode()})
    request = parse_client_message(frame, client_id="c")
    assert isinstance(request, DeviceRequest)
    return request


def test_plan_from_profile_links_and_vault(vault) -> None:  # type: ignore[no-untyped-def]
    peap = Ieee8021xConfig.objects.create(
        name="peapwifi", authentication_protocol=2, username="alice", wired_interface=False, version=1
    )
    vault.create(ieee8021x_config_path("", "peapwifi"), {"PASSWORD": Secret(DOT1X)})
    eap_tls = Ieee8021xConfig.objects.create(
        name="eaptlswired", authentication_protocol=0, username="bob", wired_interface=True, pxe_timeout=60, version=1
    )
    psk = WirelessConfig.objects.create(
        name="withpsk", authentication_method=6, encryption_method=4, ssid="a", version=1
    )
    vault.create(wireless_config_path("", "withpsk"), {"PSK_PASSPHRASE": Secret(PSK)})
    no_psk = WirelessConfig.objects.create(
        name="nopsk", authentication_method=4, encryption_method=3, ssid="b", version=1
    )
    corp = WirelessConfig.objects.create(
        name="corp", authentication_method=7, encryption_method=4, ssid="c", ieee8021x_config=peap, version=1
    )
    root, _ = self_signed_ca("MPSRoot")
    root_der = root.public_bytes(serialization.Encoding.DER)
    cira = CiraConfig.objects.create(
        name="cira1",
        mps_server_address="mps.example.com",
        mps_port=4433,
        username="mpsuser",
        server_address_format=201,
        auth_method=2,
        mps_root_certificate=base64.b64encode(root_der).decode(),
        version=1,
    )
    vault.create(cira_config_path("", "cira1"), {"MPS_PASSWORD": Secret(MPS)})
    profile = Profile.objects.create(
        name="office",
        activation="ccmactivate",
        dhcp_enabled=True,
        ieee8021x_config=eap_tls,
        cira_config=cira,
        kvm_enabled=True,
        user_consent="KVM",
        tags=["a"],
        version=1,
    )
    ProfileWirelessConfig.objects.create(profile=profile, wireless_config=psk, priority=5)
    ProfileWirelessConfig.objects.create(profile=profile, wireless_config=no_psk, priority=2)
    ProfileWirelessConfig.objects.create(profile=profile, wireless_config=corp, priority=9)
    for priority, name in ((2, "zeta"), (1, "alpha")):
        proxy = ProxyConfig.objects.create(
            name=name, address=f"{name}.example.com", info_format=201, port=3128, network_dns_suffix="x.com", version=1
        )
        ProfileProxyConfig.objects.create(profile=profile, proxy_config=proxy, priority=priority)

    plan = resolve_configuration_plan("Office", device_request("activate --profile office"), "")

    assert [w.name for w in plan.wireless] == ["nopsk", "withpsk", "corp"]
    assert "missing from the secret store" in plan.wireless[0].problem
    assert plan.wireless[1].psk_passphrase == Secret(PSK) and not plan.wireless[1].problem
    assert plan.wireless[2].ieee8021x is not None and plan.wireless[2].ieee8021x.password == Secret(DOT1X)
    # EAP-TLS: the certificate comes from the Enterprise Assistant at activation; PEAP with a
    # password of its own in Vault does without it.
    wired = plan.wired_ieee8021x
    assert wired is not None and wired.enterprise_assistant and not wired.problem and wired.password is None
    assert plan.wireless[2].ieee8021x is not None and not plan.wireless[2].ieee8021x.enterprise_assistant
    assert [p.name for p in plan.proxies] == ["alpha", "zeta"]
    assert plan.features.kvm and plan.features.user_consent == 1
    assert plan.cira is not None and plan.cira.mps_password == Secret(MPS)
    assert plan.cira.root_certificate_der == root_der
    assert plan.local_wifi_sync_enabled and plan.ip_sync_enabled and plan.tls is None
    for value in (PSK, DOT1X, MPS):
        assert value not in repr(plan)


def test_tls_plan_needs_the_mps_ca(vault) -> None:  # type: ignore[no-untyped-def]
    Profile.objects.create(name="tlsprofile", activation="ccmactivate", dhcp_enabled=True, tls_mode=1, version=1)
    vault.destroy(MPS_CERTIFICATES_PATH)
    request = device_request("activate --profile tlsprofile")
    plan = resolve_configuration_plan("tlsprofile", request, "")
    assert plan.tls is not None and plan.tls.problem == MPS_ROOT_KEY_MISSING

    ca, key = self_signed_ca("MPSRoot")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    vault.create(
        MPS_CERTIFICATES_PATH,
        {"root_key": Secret(key_pem), "root_ca": Secret(ca.public_bytes(serialization.Encoding.PEM).decode())},
    )
    try:
        plan = resolve_configuration_plan("tlsprofile", request, "")
        assert plan.tls is not None and not plan.tls.problem and plan.tls.authority is not None
        assert plan.tls.trusted_root_der == ca.public_bytes(serialization.Encoding.DER)
        assert key_pem not in repr(plan)
    finally:
        vault.destroy(MPS_CERTIFICATES_PATH)

    Profile.objects.create(
        name="mscaprofile",
        activation="ccmactivate",
        dhcp_enabled=True,
        tls_mode=2,
        tls_signing_authority="MicrosoftCA",
        version=1,
    )
    plan = resolve_configuration_plan("mscaprofile", request, "")
    # Signed through the tenant's Enterprise Assistant: MPSCerts (gone here) is not needed.
    assert plan.tls is not None and not plan.tls.problem and plan.tls.microsoft_ca_tenant == ""


@pytest.mark.parametrize(
    ("protocol", "stored_password", "via_ea"), [(0, False, True), (2, False, True), (2, True, False)]
)
def test_which_8021x_configs_the_enterprise_assistant_serves(vault, protocol, stored_password, via_ea) -> None:  # type: ignore[no-untyped-def]
    """EAP-TLS always, PEAP unless the config has a password of its own in Vault (§3)."""
    name = f"dot1x{protocol}{int(stored_password)}"
    config = Ieee8021xConfig.objects.create(
        name=name, authentication_protocol=protocol, pxe_timeout=120, wired_interface=True, version=1
    )
    if stored_password:
        vault.create(ieee8021x_config_path("", name), {"PASSWORD": Secret("own-password-1")})
    Profile.objects.create(name=f"p{name}", activation="ccmactivate", ieee8021x_config=config, version=1)
    plan = resolve_configuration_plan(f"p{name}", device_request(f"activate --profile p{name}"), "")
    assert plan.wired_ieee8021x is not None and not plan.wired_ieee8021x.problem
    assert plan.wired_ieee8021x.enterprise_assistant is via_ea


def test_a_protocol_no_enterprise_assistant_serves_fails_at_once(vault) -> None:  # type: ignore[no-untyped-def]
    """B5: a row from before the API refused it (or written directly) is not sent to the EA to wait
    out its silence: the plan names the cause."""
    config = Ieee8021xConfig.objects.create(
        name="gtc", authentication_protocol=3, pxe_timeout=120, wired_interface=True, version=1
    )
    Profile.objects.create(name="gtcprofile", activation="ccmactivate", ieee8021x_config=config, version=1)
    plan = resolve_configuration_plan("gtcprofile", device_request("activate --profile gtcprofile"), "")
    assert plan.wired_ieee8021x is not None and not plan.wired_ieee8021x.enterprise_assistant
    assert plan.wired_ieee8021x.problem == "802.1X protocol 3 of gtc is not one the Enterprise Assistant serves"
