"""TLS-enforced (AMT 19+) devices end to end (protocol.md §5): rpc-go client → WSS → RPS, which
runs the TLS client through `tls_data` to amtsim's 16993, checks the device's chain against the
On-Die CA roots (amtsim's stand-in added by `RPS_AMT_EXTRA_ODCA_ROOTS`), then activates."""

from __future__ import annotations

import ssl

import httpx
import psycopg
from cryptography import x509

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from amtsim.pki import install_on_die_ca, make_on_die_ca, shared_on_die_ca
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique
from tests.e2e.test_activation_flows import create_domain_and_acm_profile
from tests.e2e.test_configuration import mps_ca  # noqa: F401 - the MPSCerts fixture

AMT_19 = "19.0.5"


def device_row(rps: RpsServer, guid: str) -> tuple | None:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(
            "select status, control_mode, profile_name from devices_device where guid = %s", (guid.lower(),)
        ).fetchone()


async def tls_digest_login_succeeds(endpoint, password: str) -> bool:  # type: ignore[no-untyped-def]
    """A digest login as `admin` over the device's TLS port, trusting the ODCA stand-in."""
    context = ssl.create_default_context(cadata=shared_on_die_ca().root_pem().decode())
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the RCFG leaf has no serverAuth; the login is what counts
    async with httpx.AsyncClient(timeout=5, verify=context) as client:
        response = await client.post(
            f"https://{endpoint.host}:{endpoint.tls_port}/wsman",
            content=b"<x/>",
            auth=httpx.DigestAuth("admin", password),
        )
    return response.status_code != 401


def mps_posts_for(rps: RpsServer, guid: str, since: int) -> list:  # type: ignore[type-arg]
    return [call for call in rps.mps.requests[since:] if call.method == "POST" and call.body.get("guid") == guid]


async def test_amt19_ccm_activation_through_the_tls_tunnel(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19, hostname=unique("pc19-")))
    guid = device.identity.uuid.lower()
    mps_before = len(rps_server.mps.requests)

    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.payload is not None and result.payload["tlsEnforced"] is True
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Client control mode."
        assert result.status["Components"]["Activation"]["Result"] == "Success"

        # §5.5: Setup, then CommitChanges, all through the tunnel (rpc-go in tunnel mode writes
        # every server message to the TLS port: a plain `wsman` would never reach AMT's parser).
        assert device.state.control_mode is ControlMode.CCM
        assert device.call_names[:3] == [
            "AMT_GeneralSettings.Get",
            "IPS_HostBasedSetupService.Setup",
            "AMT_SetupAndConfigurationService.CommitChanges",
        ]
        assert device.state.commits >= 1

        # The password in Vault is the one the device uses.
        password = rps_server.vault_store().read(device_path(guid)).values["AMT_PASSWORD"].reveal()
        assert await tls_digest_login_succeeds(endpoint, password)
        assert not await tls_digest_login_succeeds(endpoint, password + "x")

    posts = mps_posts_for(rps_server, guid, mps_before)
    assert posts and "mpsusername" not in posts[0].body and posts[0].body["tags"] == ["e2e"]
    assert device_row(rps_server, guid) == ("activated", 1, profile)
    assert password not in rps_server.log_text()


async def test_a_chain_not_ending_at_a_trusted_odca_root_is_refused_and_nothing_is_written(
    rps_server: RpsServer,
) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19))
    guid = device.identity.uuid.lower()
    mps_before = len(rps_server.mps.requests)
    trusted = shared_on_die_ca()
    install_on_die_ca(make_on_die_ca())  # this device's factory chain ends at a root RPS does not know
    try:
        async with serve_device(device) as endpoint:
            install_on_die_ca(trusted)
            result = await run_rpc(
                ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
                device_endpoint=endpoint,
            )
    finally:
        install_on_die_ca(trusted)

    assert result.exit_code == 1, (result.error, result.message)
    assert result.status_text.startswith("Device certificate is not trusted"), result.status_text
    assert "On-Die CA" in result.status_text
    # Nothing reached AMT (not even a digest answer), nothing was stored, MPS never heard of it.
    assert device.calls == [] and device.auth_failures == []
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(guid)) is None
    assert mps_posts_for(rps_server, guid, mps_before) == []
    row = device_row(rps_server, guid)
    assert row is None or row[0] != "activated"


async def test_a_connection_reset_mid_flow_is_retried_with_a_new_tunnel(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19))
    device.faults.add(Fault.reset(call="AMT_SetupAndConfigurationService.CommitChanges"))

    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Client control mode."
        assert [fired.kind.value for fired in device.faults.fired] == ["reset"]
        # The reset CommitChanges, then its retry after delay_tls_timer on a fresh handshake.
        assert device.call_names.count("AMT_SetupAndConfigurationService.CommitChanges") == 2
        assert device.state.control_mode is ControlMode.CCM
        password = rps_server.vault_store().read(device_path(device.identity.uuid.lower())).values["AMT_PASSWORD"]
        assert await tls_digest_login_succeeds(endpoint, password.reveal())


async def test_amt19_acm_activation_is_ccm_then_upgrade_through_the_tunnel(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme19')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version=AMT_19, dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    guid = device.identity.uuid.lower()
    mps_before = len(rps_server.mps.requests)
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Activated to admin control mode."
        assert result.status["Components"]["Activation"]["Mode"] == "ACM"
        assert "Client control mode (TLS activation Phase 1)." in result.progress
        calls = device.call_names
        # AdminSetup is never tried on AMT 19+: Setup + commit, then the upgrade + commit.
        assert "IPS_HostBasedSetupService.AdminSetup" not in calls
        setup_at = calls.index("IPS_HostBasedSetupService.Setup")
        upgrade_at = calls.index("IPS_HostBasedSetupService.UpgradeClientToAdmin")
        assert calls[setup_at + 1] == "AMT_SetupAndConfigurationService.CommitChanges"
        assert "AMT_SetupAndConfigurationService.CommitChanges" in calls[upgrade_at + 1 :]
        assert device.state.control_mode is ControlMode.ACM
        secret = rps_server.vault_store().read(device_path(guid)).values
        assert await tls_digest_login_succeeds(endpoint, secret["AMT_PASSWORD"].reveal())
        assert device.state.mebx_password == secret["MEBX_PASSWORD"].reveal()
    assert mps_posts_for(rps_server, guid, mps_before)
    assert device_row(rps_server, guid) == ("activated", 2, profile)


async def test_amt19_acm_failure_after_phase_one_rolls_the_device_back(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme19')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version=AMT_19, dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    device.faults.add(Fault.return_value(call="IPS_HostBasedSetupService.UpgradeClientToAdmin", value=1))
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
    assert result.exit_code == 1, (result.error, result.message)
    assert result.status_text == "Failed to upgrade to admin control mode.ACM activation failed."
    assert device.call_names[-1] == "AMT_SetupAndConfigurationService.Unprovision"
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid.lower())) is None


async def test_amt19_tls_configured_from_the_mps_ca_then_deactivated_through_the_tunnel(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above
) -> None:
    profile = create_ccm_profile(rps_server, tlsMode=1, tlsSigningAuthority="SelfSigned")
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19, hostname=unique("tls19-")))
    guid = device.identity.uuid.lower()
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", rps_server.wss_url, "-profile", profile, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status["TLSConfiguration"] == "Configured"
        assert device.state.tls_committed
        # AMT now serves the certificate RPS issued from the MPS CA, not the factory chain.
        issued_pem = rps_server.vault_store().read(device_path(guid)).values["TLS_ISSUED_CERTIFICATE"].reveal()
        x509.load_pem_x509_certificate(issued_pem.encode()).verify_directly_issued_by(mps_ca)
        password = rps_server.vault_store().read(device_path(guid)).values["AMT_PASSWORD"].reveal()

        # An activated device's tunnel is not held to the ODCA root (§5.4): deactivation works.
        result = await run_rpc(
            ["deactivate", "-u", rps_server.wss_url, "-password", password, "-cafile", str(rps_server.ca_file)],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Deactivated"
        assert device.state.control_mode is ControlMode.PRE_PROVISIONING
