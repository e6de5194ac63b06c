"""Issue #10 finding 8: hostile XML (a DTD, an entity, an external reference) from the device is a
security event that ends the session, in every flow that can receive it. No flow or configuration
step may take it for an ordinary failure and carry on: each flow lets `UnsafeXml` through, the
device is asked nothing after the poisoned answer, and the runner ends the session with its own
recorded cause."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from activation.flows import activate_acm, activate_ccm, deactivate, reconfigure_activated, run_maintenance
from activation.flows.acm import upgrade_to_acm
from activation.flows.tls_enforced import activate_ccm_tls_enforced
from activation.flows.tls_tunnel import activate_through_tls_tunnel
from activation.plan.activation_plan import ActivationPlan, ProvisioningCertificate
from activation.runner import DeviceSessionRunner
from activation.session import AmtSession
from activation.wsman.response import UnsafeXml
from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice
from amtsim.pki import make_provisioning_chain
from devices.models import Device, ProvisioningRun
from devices.services.device_secrets import device_secret_create
from devices.services.runs import DeviceReport, VerifiedChange, run_finish, run_start
from profiles.models import ActivationMode, Profile
from rps_site.sensitive import Secret
from rps_site.vault import device_path
from tests.activation.amtsim_link import InProcessDevice
from tests.activation.flow_fakes import GUID, RecordingProgress, RecordingSecrets, device_request, no_pause
from tests.activation.test_configure import PASSWORD, Mps, Secrets, base_plan, cira_plan, peap, tls_plan, wifi_psk
from tests.activation.test_configure import run as configure
from tests.activation.test_runner_fail_closed import activation_request

SUFFIX = "vpro.example.com"


def amt_session(device: VirtualAmtDevice, username: str, password: str) -> AmtSession:
    return AmtSession(
        InProcessDevice(device),
        device_guid=device.identity.uuid,
        username=username,
        password=Secret(password),
        wsman_timeout=1,
        retry_delay=0,
        sleep=no_pause,
    )


def poisoned(device: VirtualAmtDevice, call: str, skip: int = 0) -> VirtualAmtDevice:
    device.faults.add(Fault.unsafe_xml(call=call, skip=skip))
    return device


def assert_nothing_after(device: VirtualAmtDevice, call: str) -> None:
    fired = [record.call for record in device.calls if record.fault is not None]
    assert fired == [call], fired
    assert device.call_names[-1] == call, f"the device was asked more after the unsafe answer: {device.call_names}"


# --- the configuration components (§4.6-4.10) -------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "call",
    [
        "AMT_EthernetPortSettings.Enumerate",  # unconfiguration, its first read
        "IPS_IEEE8021xSettings.Get",  # unconfiguration, 802.1X
        "AMT_TLSSettingData.Pull",  # unconfiguration, TLS
        "AMT_EthernetPortSettings.Put",  # wired network
        "AMT_WiFiPortConfigurationService.AddWiFiSettings",  # wireless
        "AMT_WiFiPortConfigurationService.Get",  # wireless sync
        "IPS_HTTPProxyService.AddProxyAccessPoint",  # proxy
        "AMT_RedirectionService.Get",  # AMT features
        "AMT_PublicKeyManagementService.GenerateKeyPair",  # TLS
        "AMT_RemoteAccessService.AddMpServer",  # CIRA
    ],
)
async def test_every_configuration_component_lets_unsafe_xml_end_the_session(call: str) -> None:
    from activation.plan.configuration_plan import ProxyPlan

    device = VirtualAmtDevice.activated(DeviceIdentity(), admin_password=PASSWORD)
    plan = base_plan(
        device.identity.uuid,
        wired_ieee8021x=peap(),
        wireless=(wifi_psk(),),
        local_wifi_sync_enabled=True,
        proxies=(ProxyPlan("proxy1", "proxy.example.com", 201, 8080, "example.com"),),
        tls=tls_plan(),
        cira=cira_plan(),
    )
    poisoned(device, call)
    with pytest.raises(UnsafeXml):
        await configure(device, plan, secrets=Secrets(device=device), mps=Mps(), mps_record={})
    assert_nothing_after(device, call)


# --- activation, reconfiguration, deactivation, maintenance -----------------------------------


def chain_certificate(suffix: str = SUFFIX) -> tuple[ProvisioningCertificate, str]:
    chain = make_provisioning_chain(suffix)
    key = chain.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ProvisioningCertificate(chain_der=tuple(chain.ders()), private_key_pem=Secret(key)), chain.root_sha256


def plan_for(mode: ActivationMode, current_mode: int, **extra: Any) -> ActivationPlan:
    request = device_request("activate --profile office", currentMode=current_mode, fqdn=SUFFIX, certHashes=[])
    return ActivationPlan(
        profile_name="office",
        mode=mode,
        tenant_id="",
        device=request,
        amt_password=Secret("Profile!Pass1"),
        password_generated=True,
        mebx_password=Secret("Mebx!Pass1") if mode is ActivationMode.ACM else None,
        **extra,
    )


class TlsSecrets(RecordingSecrets):
    async def write_tls_certificate(self, guid: str, certificate_pem: str) -> None:
        self.events.append("TLS_ISSUED_CERTIFICATE")

    async def read_tls_certificate(self, guid: str) -> str | None:
        return None


class NoTunnel:
    def rebuild(self) -> None: ...

    def trust(self, verify_chain: object) -> None: ...

    async def switch_to_tls(self, *, delay_seconds: int) -> None: ...


FlowUnderTest = Callable[[VirtualAmtDevice], Awaitable[Any]]


async def ccm_from_pre_provisioning(device: VirtualAmtDevice) -> Any:
    amt = amt_session(device, "$$OsAdmin", device.identity.local_system_password)
    return await activate_ccm(amt, plan_for(ActivationMode.CCM, 0), RecordingSecrets(), RecordingProgress())


async def acm_from_pre_provisioning(device: VirtualAmtDevice) -> Any:
    certificate, _ = device.acm_certificate  # type: ignore[attr-defined]
    amt = amt_session(device, "$$OsAdmin", device.identity.local_system_password)
    plan = plan_for(ActivationMode.ACM, 0, provisioning_certificate=certificate)
    return await activate_acm(amt, plan, RecordingSecrets(), RecordingProgress(), pause=no_pause)


async def ccm_upgraded_to_acm(device: VirtualAmtDevice) -> Any:
    certificate, _ = device.acm_certificate  # type: ignore[attr-defined]
    amt = amt_session(device, "admin", PASSWORD)
    plan = plan_for(ActivationMode.ACM, 1, provisioning_certificate=certificate)
    return await upgrade_to_acm(
        amt, plan, RecordingSecrets(), RecordingProgress(), current_password=Secret(PASSWORD), pause=no_pause
    )


async def activated_reconfigured(device: VirtualAmtDevice) -> Any:
    amt = amt_session(device, "admin", PASSWORD)
    return await reconfigure_activated(
        amt, plan_for(ActivationMode.CCM, 1), RecordingSecrets(), RecordingProgress(), current_password=Secret(PASSWORD)
    )


async def tls_enforced_ccm(device: VirtualAmtDevice) -> Any:
    amt = amt_session(device, "$$OsAdmin", device.identity.local_system_password)
    return await activate_ccm_tls_enforced(
        amt,
        NoTunnel(),
        plan_for(ActivationMode.CCM, 0),
        RecordingSecrets(),
        RecordingProgress(),
        local_password=Secret(device.identity.local_system_password),
        pause=no_pause,
        tls_pause=no_pause,
    )


async def through_tls_tunnel(device: VirtualAmtDevice) -> Any:
    amt = amt_session(device, "$$OsAdmin", device.identity.local_system_password)
    return await activate_through_tls_tunnel(
        amt,
        NoTunnel(),
        plan_for(ActivationMode.CCM, 0),
        tls_plan(),
        TlsSecrets(),
        RecordingProgress(),
        open_tunnel_session=lambda: amt,
        switch_delay_seconds=0,
        pause=no_pause,
    )


async def deactivated(device: VirtualAmtDevice) -> Any:
    return await deactivate(amt_session(device, "admin", PASSWORD))


def maintenance(task: str) -> FlowUnderTest:
    async def run(device: VirtualAmtDevice) -> Any:
        request = device_request(
            f"maintenance -password {PASSWORD} --{task}",
            currentMode=1,
            hostnameInfo={"hostname": "renamed", "dnsSuffixOS": "x"},
            ipConfiguration={"ipAddress": "192.168.6.99", "netmask": "255.255.255.0"},
        )
        return await run_maintenance(
            amt_session(device, "admin", PASSWORD), request, RecordingSecrets(), new_password=Secret("New!Pass123")
        )

    run.__name__ = f"maintenance_{task}"
    return run


def pre_provisioning() -> VirtualAmtDevice:
    return VirtualAmtDevice(DeviceIdentity(uuid=GUID))


def acm_capable(mode: ControlMode = ControlMode.PRE_PROVISIONING) -> VirtualAmtDevice:
    certificate, root_hash = chain_certificate()
    identity = DeviceIdentity(uuid=GUID, dns_suffix=SUFFIX, trusted_root_hashes=[root_hash])
    device = (
        VirtualAmtDevice(identity)
        if mode is ControlMode.PRE_PROVISIONING
        else VirtualAmtDevice.activated(identity, mode=mode, admin_password=PASSWORD)
    )
    device.acm_certificate = (certificate, root_hash)  # type: ignore[attr-defined]
    return device


def activated() -> VirtualAmtDevice:
    return VirtualAmtDevice.activated(DeviceIdentity(uuid=GUID), admin_password=PASSWORD)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("flow", "device_factory", "call"),
    [
        (ccm_from_pre_provisioning, pre_provisioning, "AMT_GeneralSettings.Get"),
        (ccm_from_pre_provisioning, pre_provisioning, "IPS_HostBasedSetupService.Setup"),
        (acm_from_pre_provisioning, acm_capable, "IPS_HostBasedSetupService.AddNextCertInChain"),
        (acm_from_pre_provisioning, acm_capable, "IPS_HostBasedSetupService.AdminSetup"),
        (acm_from_pre_provisioning, acm_capable, "AMT_SetupAndConfigurationService.SetMEBxPassword"),
        (ccm_upgraded_to_acm, lambda: acm_capable(ControlMode.CCM), "IPS_HostBasedSetupService.UpgradeClientToAdmin"),
        (activated_reconfigured, activated, "AMT_GeneralSettings.Get"),
        (activated_reconfigured, activated, "AMT_AuthorizationService.SetAdminAclEntryEx"),
        (tls_enforced_ccm, pre_provisioning, "AMT_SetupAndConfigurationService.CommitChanges"),
        (through_tls_tunnel, pre_provisioning, "AMT_PublicKeyManagementService.AddTrustedRootCertificate"),
        (deactivated, activated, "AMT_SetupAndConfigurationService.Unprovision"),
        (maintenance("synctime"), activated, "AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch"),
        (maintenance("syncip"), activated, "AMT_EthernetPortSettings.Pull"),
        (maintenance("synchostname"), activated, "AMT_GeneralSettings.Get"),
        (maintenance("changepassword"), activated, "AMT_AuthorizationService.SetAdminAclEntryEx"),
    ],
    ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", ""),
)
async def test_every_flow_lets_unsafe_xml_end_the_session(
    flow: FlowUnderTest, device_factory: Callable[[], VirtualAmtDevice], call: str
) -> None:
    device = poisoned(device_factory(), call)
    with pytest.raises(UnsafeXml):
        await flow(device)
    assert_nothing_after(device, call)


# --- the runner: a security event with its own recorded cause ------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("activate", "AMT_EthernetPortSettings.Put"),  # a configuration step, after the activation
        ("deactivate", "AMT_SetupAndConfigurationService.Unprovision"),
        ("maintenance", "AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch"),
    ],
)
async def test_the_runner_ends_the_session_as_a_security_event(vault, settings, action: str, call: str) -> None:  # type: ignore[no-untyped-def]
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    await Profile.objects.acreate(
        name="ccm-xml", activation="ccmactivate", generate_random_password=True, version=1, dhcp_enabled=True
    )
    if action == "activate":
        device = VirtualAmtDevice(DeviceIdentity())
        request = activation_request(device, "ccm-xml")
    else:
        device = VirtualAmtDevice.activated(DeviceIdentity(), admin_password=PASSWORD)
        await bound_with_password(device.identity.uuid, PASSWORD)
        method = f"deactivate --password {PASSWORD}" if action == "deactivate" else "maintenance --synctime"
        request = dataclasses.replace(
            activation_request(device, "ccm-xml", currentMode=1, password=PASSWORD),
            command=_command(method),
        )
    poisoned(device, call)
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    terminal = json.loads(
        await DeviceSessionRunner(request, InProcessDevice(device), send, client_address="192.0.2.7").execute()
    )
    assert terminal["method"] == "error"
    assert (
        json.loads(terminal["message"])["Status"]
        == f"Device {device.identity.uuid} sent unsafe XML; the session was ended."
    )
    assert_nothing_after(device, call)
    run = await ProvisioningRun.objects.filter(device__guid=device.identity.uuid).order_by("-id").afirst()
    assert run is not None and run.outcome == "failure"
    assert run.failure_cause.startswith("security event: refused unsafe XML from the device")
    steps = [(step.name, step.outcome) async for step in run.steps.order_by("position")]
    assert steps[-1] == ("unsafe XML from the device", "failure")
    if action == "deactivate":
        # Unprovision ran on the device, but the session ended before anything stored was forgotten.
        assert vault.read(device_path(device.identity.uuid)) is not None
        registered = await Device.objects.aget(guid=device.identity.uuid)
        assert registered.status == "activated"


def _command(method: str) -> Any:
    from activation.protocol.command_line import parse_command_line

    command = parse_command_line(method)
    assert command is not None
    return command


async def bound_with_password(guid: str, password: str) -> None:
    from asgiref.sync import sync_to_async

    def bind() -> None:
        run = run_start(guid=guid, tenant_id="", action="activate").run
        run_finish(
            run=run,
            succeeded=True,
            change=VerifiedChange(
                report=DeviceReport(), status="activated", control_mode=1, bind_tenant_id="", credential="confirmed"
            ),
        )
        device_secret_create(guid=guid, values={"AMT_PASSWORD": Secret(password)})

    await sync_to_async(bind)()
