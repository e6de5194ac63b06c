"""TLS-enforced (AMT 19+) devices end to end (protocol.md §5): rpc-go client → WSS → RPS, which
runs the TLS client through `tls_data` to amtsim's 16993, checks the device's chain against the
On-Die CA roots (amtsim's stand-in added by `RPS_AMT_EXTRA_ODCA_ROOTS`), then activates."""

from __future__ import annotations

import ssl

import httpx
import hvac
import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from amtsim.pki import install_on_die_ca, make_on_die_ca, shared_on_die_ca
from rps_site.vault import device_path
from tests.amtsim.test_firmware_fidelity import is_factory_leaf, is_self_signed
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


async def run_activate(rps: RpsServer, endpoint, profile: str, *extra: str):  # type: ignore[no-untyped-def]
    return await run_rpc(
        ["activate", "-u", rps.wss_url, "-profile", profile, "-cafile", str(rps.ca_file), *extra],
        device_endpoint=endpoint,
    )


def presented_sequence(device: VirtualAmtDevice, mps_root: x509.Certificate | None = None) -> list[str]:
    """What the device's TLS port presented, session after session (repeats collapsed):
    `factory` (RCFG chain, ODCA), `temporary` (its own self-signed leaf), `issued` (by the MPS CA)."""
    kinds: list[str] = []
    for der in device.presented_tls_leaves:
        leaf = x509.load_der_x509_certificate(der)
        if is_factory_leaf(leaf):
            kind = "factory"
        elif is_self_signed(leaf):
            kind = "temporary"
        elif mps_root is not None and leaf.issuer == mps_root.subject:
            leaf.verify_directly_issued_by(mps_root)
            kind = "issued"
        else:
            kind = "unknown"
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    return kinds


def mps_posts_for(rps: RpsServer, guid: str, since: int) -> list:  # type: ignore[type-arg]
    return [call for call in rps.mps.requests[since:] if call.method == "POST" and call.body.get("guid") == guid]


async def test_amt19_ccm_activation_through_the_tls_tunnel(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19, hostname=unique("pc19-")))
    guid = device.identity.uuid.lower()
    mps_before = len(rps_server.mps.requests)

    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        result = await run_activate(rps_server, endpoint, profile)
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
        # §5.4: the factory chain until the Setup commit, then AMT's temporary self-signed leaf,
        # which RPS accepted for the rest of the activation (the digest password guards it).
        assert presented_sequence(device) == ["factory", "temporary"]

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
            result = await run_activate(rps_server, endpoint, profile)
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
        result = await run_activate(rps_server, endpoint, profile)
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
        result = await run_activate(rps_server, endpoint, profile)
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
        # The upgrade ran in sessions that presented the temporary self-signed leaf (§5.4).
        assert presented_sequence(device) == ["factory", "temporary"]
        secret = rps_server.vault_store().read(device_path(guid)).values
        assert await tls_digest_login_succeeds(endpoint, secret["AMT_PASSWORD"].reveal())
        assert device.state.mebx_password == secret["MEBX_PASSWORD"].reveal()
    assert mps_posts_for(rps_server, guid, mps_before)
    assert device_row(rps_server, guid) == ("activated", 2, profile)


async def test_amt19_acm_with_tls_configures_it_between_the_phases(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above
) -> None:
    """§5.5 ACM steps 2-3: TLS after Phase 1, then the upgrade through a new tunnel session held
    to the certificate RPS just installed."""
    suffix = f"{unique('acme19tls')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix, tlsMode=1, tlsSigningAuthority="SelfSigned")
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version=AMT_19, dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    async with serve_device(device) as endpoint:
        result = await run_activate(rps_server, endpoint, profile)
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status["Components"]["Activation"]["Mode"] == "ACM"
        assert result.status["TLSConfiguration"] == "Configured"
        calls = device.call_names
        setup_at = calls.index("IPS_HostBasedSetupService.Setup")
        tls_at = calls.index("AMT_TLSSettingData.Put")
        upgrade_at = calls.index("IPS_HostBasedSetupService.UpgradeClientToAdmin")
        assert setup_at < tls_at < upgrade_at
        assert calls.count("AMT_PublicKeyManagementService.GenerateKeyPair") == 1  # TLS once, not again later
        assert device.state.control_mode is ControlMode.ACM and device.state.tls_committed
        # TLS was configured in the temporary leaf's window; the upgrade ran in sessions pinned to
        # the certificate RPS issued.
        assert presented_sequence(device, mps_ca) == ["factory", "temporary", "issued"]
        secret = rps_server.vault_store().read(device_path(device.identity.uuid.lower())).values
        x509.load_pem_x509_certificate(secret["TLS_ISSUED_CERTIFICATE"].reveal().encode()).verify_directly_issued_by(
            mps_ca
        )
        assert await installed_certificate_login_succeeds(endpoint, secret["AMT_PASSWORD"].reveal(), mps_ca)


async def test_amt19_acm_failure_after_phase_one_rolls_the_device_back(rps_server: RpsServer) -> None:
    suffix = f"{unique('acme19')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version=AMT_19, dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    device.faults.add(Fault.return_value(call="IPS_HostBasedSetupService.UpgradeClientToAdmin", value=1))
    async with serve_device(device) as endpoint:
        result = await run_activate(rps_server, endpoint, profile)
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
        result = await run_activate(rps_server, endpoint, profile)
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
        assert presented_sequence(device, mps_ca)[:3] == ["factory", "temporary", "issued"]


# ---------------------------------------------------------------------------------------------
# `--tls-tunnel` on AMT 11-18 (§5.5): plain Setup, TLS over plain, port_switch, then the tunnel
# ---------------------------------------------------------------------------------------------

AMT_16 = "16.1.25"


async def installed_certificate_login_succeeds(endpoint, password: str, mps_root: x509.Certificate) -> bool:  # type: ignore[no-untyped-def]
    """A digest login as `admin` over the device's TLS port, trusting only the MPS CA."""
    context = ssl.create_default_context(cadata=mps_root.public_bytes(serialization.Encoding.PEM).decode())
    context.check_hostname = False  # the leaf names the device (CN=AMT-<host>), not 127.0.0.1
    async with httpx.AsyncClient(timeout=5, verify=context) as client:
        response = await client.post(
            f"https://{endpoint.host}:{endpoint.tls_port}/wsman",
            content=b"<x/>",
            auth=httpx.DigestAuth("admin", password),
        )
    return response.status_code != 401


async def run_with_tls_tunnel(rps: RpsServer, endpoint, profile: str):  # type: ignore[no-untyped-def]
    return await run_activate(rps, endpoint, profile, "--tls-tunnel")


async def test_tls_tunnel_on_amt16_activates_in_plain_then_continues_through_the_tunnel(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above
) -> None:
    profile = create_ccm_profile(rps_server)  # no tlsMode: the tunnel brings TLS anyway (mode 2)
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_16, hostname=unique("tunnel16-")))
    guid = device.identity.uuid.lower()
    async with serve_device(device, tls=True) as endpoint:
        result = await run_with_tls_tunnel(rps_server, endpoint, profile)
        assert result.payload["tlsTunnel"] is True and "tlsEnforced" not in result.payload
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status_text == "Client control mode."
        assert result.status["TLSConfiguration"] == "Configured"
        assert result.status["Components"]["TLS"]["Result"] == "Success"
        assert "Switching to the TLS tunnel" in result.progress

        # Plain until the TLS commit, then everything through the tunnel.
        calls = device.call_names
        assert calls.index("IPS_HostBasedSetupService.Setup") < calls.index("AMT_TLSSettingData.Put")
        commit = calls.index("AMT_SetupAndConfigurationService.CommitChanges")
        plain_relays = result.relayed_wsman - result.tunnel_rounds
        assert plain_relays <= commit + 1 + len(device.auth_failures)  # nothing after the commit in plain
        assert len(calls) > commit + 10  # the clean-up, network and features ran: through the tunnel
        assert result.tunnel_rounds > len(calls) - commit - 1
        # The TLS clean-up of §4.6 did not undo the tunnel's TLS.
        state = device.state
        assert state.tls_committed and all(setting.flag("Enabled") for setting in state.tls_settings)
        assert state.tls_settings[0].get("AcceptNonSecureConnections") == "true"

        secret = rps_server.vault_store().read(device_path(guid)).values
        issued = x509.load_pem_x509_certificate(secret["TLS_ISSUED_CERTIFICATE"].reveal().encode())
        issued.verify_directly_issued_by(mps_ca)
        password = secret["AMT_PASSWORD"].reveal()
        assert await installed_certificate_login_succeeds(endpoint, password, mps_ca)
        assert not await installed_certificate_login_succeeds(endpoint, password + "x", mps_ca)
    assert device_row(rps_server, guid) == ("activated", 1, profile)
    assert password not in rps_server.log_text()


async def test_tls_tunnel_with_an_acm_profile_upgrades_through_the_tunnel(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above
) -> None:
    suffix = f"{unique('tunnel-acm')}.example.com"
    profile, chain = create_domain_and_acm_profile(rps_server, suffix)
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version=AMT_16, dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    guid = device.identity.uuid.lower()
    async with serve_device(device, tls=True) as endpoint:
        result = await run_with_tls_tunnel(rps_server, endpoint, profile)
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status["Components"]["Activation"]["Mode"] == "ACM"
        assert result.status["TLSConfiguration"] == "Configured"
        calls = device.call_names
        # §5.5: CCM Setup in plain (never AdminSetup), then the upgrade after the port switch.
        assert "IPS_HostBasedSetupService.AdminSetup" not in calls
        plain_relays = result.relayed_wsman - result.tunnel_rounds
        assert plain_relays <= calls.index("IPS_HostBasedSetupService.UpgradeClientToAdmin")
        assert device.state.control_mode is ControlMode.ACM
        secret = rps_server.vault_store().read(device_path(guid)).values
        assert await installed_certificate_login_succeeds(endpoint, secret["AMT_PASSWORD"].reveal(), mps_ca)
        assert device.state.mebx_password == secret["MEBX_PASSWORD"].reveal()
    assert device_row(rps_server, guid) == ("activated", 2, profile)


async def test_tls_tunnel_without_the_mps_ca_is_refused_before_anything_reaches_the_device(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above; removed and put back here
) -> None:
    """No `MPSCerts` in Vault: RPS cannot give the device TLS, so it refuses at once, names the
    cause, and the device stays unprovisioned."""
    vault = hvac.Client(url=rps_server.vault.addr, token=rps_server.vault.root_token)
    stored = vault.secrets.kv.v2.read_secret_version(
        path="MPSCerts", mount_point="secret", raise_on_deleted_version=True
    )
    vault.secrets.kv.v2.delete_metadata_and_all_versions(path="MPSCerts", mount_point="secret")
    try:
        profile = create_ccm_profile(rps_server)
        device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_16))
        async with serve_device(device, tls=True) as endpoint:
            result = await run_with_tls_tunnel(rps_server, endpoint, profile)
    finally:
        vault.secrets.kv.v2.create_or_update_secret(
            path="MPSCerts", mount_point="secret", secret=stored["data"]["data"]
        )
    assert result.exit_code == 1, (result.error, result.message)
    assert "--tls-tunnel" in result.message and "MPS root key" in result.message, result.message
    assert device.calls == []
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
    assert rps_server.vault_store().read(device_path(device.identity.uuid.lower())) is None


async def test_amt19_reconfiguration_keeps_tls_whose_certificate_rps_issued(
    rps_server: RpsServer,
    mps_ca: x509.Certificate,  # noqa: F811 - the fixture imported above
) -> None:
    """§5.5 "Already-activated TLS devices": the leaf AMT presents in the tunnel is the one in
    `TLS_ISSUED_CERTIFICATE`, so a reconfiguration leaves TLS alone (no new key pair, no new
    certificate on the device each time)."""
    profile = create_ccm_profile(rps_server, tlsMode=1, tlsSigningAuthority="SelfSigned")
    device = VirtualAmtDevice(DeviceIdentity(amt_version=AMT_19, hostname=unique("retls19-")))
    guid = device.identity.uuid.lower()
    async with serve_device(device) as endpoint:
        first = await run_activate(rps_server, endpoint, profile)
        assert first.exit_code == 0, (first.error, first.message)
        assert first.status["TLSConfiguration"] == "Configured"
        stored = rps_server.vault_store().read(device_path(guid)).values
        issued_pem = stored["TLS_ISSUED_CERTIFICATE"].reveal()
        certificates, key_pairs = len(device.state.certificates), len(device.state.key_pairs)
        calls_before = len(device.calls)

        again = await run_rpc(
            [
                "activate",
                "-u",
                rps_server.wss_url,
                "-profile",
                profile,
                "-password",
                stored["AMT_PASSWORD"].reveal(),
                "-cafile",
                str(rps_server.ca_file),
            ],
            device_endpoint=endpoint,
        )
        assert again.exit_code == 0, (again.error, again.message)
        assert again.status["TLSConfiguration"] == "Already configured"
        assert again.status["Components"]["TLS"]["Result"] == "Success"
        assert "AMT_PublicKeyManagementService.GenerateKeyPair" not in device.call_names[calls_before:]
        assert (len(device.state.certificates), len(device.state.key_pairs)) == (certificates, key_pairs)
        assert rps_server.vault_store().read(device_path(guid)).values["TLS_ISSUED_CERTIFICATE"].reveal() == issued_pem
