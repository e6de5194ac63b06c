"""The TLS-tunnel transport (protocol.md §5) against amtsim's TLS-enforced device over a real
TLS socket, with a relay that behaves like rpc-go's tunnel branch, and the ODCA chain check."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from activation.flows.ports import FlowResult
from activation.flows.tls_enforced import _commit_setup
from activation.odca import UntrustedDeviceCertificate, load_trust_anchors, verify_device_chain
from activation.protocol.messages import ConnectionReset, PortSwitchAck, TlsData
from activation.protocol.status import ActivationStatus
from activation.session import AmtSession
from activation.session_errors import AmtTimeout, AmtUnauthorized
from activation.tunnel import TlsTunnelTransport, _TlsSession, http_response_complete, tunnel_client_context
from activation.wsman import setup
from activation.wsman.call import MethodResult
from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, serve_device
from amtsim.pki import make_on_die_ca, shared_on_die_ca
from rps_site.sensitive import Secret

PASSWORD = "Tunn3l!Passw0rd"


class Relay:
    """rpc-go's tunnel branch (§5.2): one local TCP connection to 16993, reopened on a
    ClientHello; each `tls_data` is written, then one round is read (first byte within
    `first_byte_timeout`, then until a short gap) and sent back as one `tls_data`; a local close
    with no data is a `connection_reset`. Messages are handled one at a time, in order."""

    def __init__(self, host: str, port: int, *, first_byte_timeout: float = 0.5) -> None:
        self.host, self.port = host, port
        self.first_byte_timeout = first_byte_timeout
        self.transport: TlsTunnelTransport | None = None
        self.sent: list[dict[str, object]] = []
        self.hellos = 0
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._task: asyncio.Task[None] | None = None

    async def send(self, text: str) -> None:  # the transport's `send`
        if self._task is None:
            self._task = asyncio.create_task(self._loop())
        self._inbox.put_nowait(text)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._connection is not None:
            self._connection[1].close()

    async def _loop(self) -> None:
        while True:
            message = json.loads(await self._inbox.get())
            self.sent.append(message)
            if message["method"] == "port_switch":
                self.transport.deliver(PortSwitchAck())  # type: ignore[union-attr]
                continue
            data = base64.b64decode(message["payload"])
            if len(data) > 5 and data[0] == 0x16 and data[5] == 0x01:
                self.hellos += 1
                if self._connection is not None:
                    self._connection[1].close()
                    self._connection = None
            try:
                if self._connection is None:
                    self._connection = await asyncio.open_connection(self.host, self.port)
                reader, writer = self._connection
                writer.write(data)
                await writer.drain()
                answer, closed = await self._round(reader)
            except OSError:
                self._connection = None
                self.transport.deliver(ConnectionReset("lms_error"))  # type: ignore[union-attr]
                continue
            if answer:
                self.transport.deliver(TlsData(answer))  # type: ignore[union-attr]
            if closed:
                self._connection = None
                if not answer:
                    self.transport.deliver(ConnectionReset("connection_closed"))  # type: ignore[union-attr]

    async def _round(self, reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        try:
            first = await asyncio.wait_for(reader.read(65536), self.first_byte_timeout)
        except TimeoutError:
            return b"", False
        if not first:
            return b"", True
        received = bytearray(first)
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.05)
            except TimeoutError:
                return bytes(received), False
            if not chunk:
                return bytes(received), True
            received += chunk


def odca_stand_in_check(chain: list[bytes]) -> object:
    return verify_device_chain(chain, [shared_on_die_ca().root])


async def no_sleep(_: float) -> None:
    return None


class RecordingTunnel(TlsTunnelTransport):
    requests: list[bytes]

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        self.requests.append(http_request)
        return await super().exchange(http_request, timeout=timeout)


def tunnel_session(relay: Relay, device: VirtualAmtDevice, *, verify=odca_stand_in_check):  # type: ignore[no-untyped-def]
    transport = RecordingTunnel(relay.send, verify_chain=verify)
    transport.requests = []
    relay.transport = transport
    session = AmtSession(
        transport,
        device_guid=device.identity.uuid,
        username="$$OsAdmin",
        password=Secret(device.identity.local_system_password),
        port=16993,
        connection_close=False,
        wsman_timeout=5,
        retry_delay=0,
        sleep=no_sleep,
    )
    return session, transport


async def test_ccm_setup_through_the_tunnel_with_an_odca_verified_chain() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        relay = Relay(endpoint.host, endpoint.tls_port)
        amt, transport = tunnel_session(relay, device)
        try:
            settings = await amt.call(setup.get_general_settings())
            assert settings.has_valid_digest_realm
            outcome = await amt.call(setup.setup(setup.admin_password_hash(settings.digest_realm, Secret(PASSWORD))))
            assert outcome.succeeded
            amt.use_credentials("admin", Secret(PASSWORD))
            assert (await amt.call(setup.commit_changes())).succeeded
            transport.rebuild()
            assert (await amt.call(setup.get_general_settings())).digest_realm == settings.digest_realm
        finally:
            await relay.close()
    assert device.state.control_mode is ControlMode.CCM
    assert device.state.admin_password_matches(PASSWORD)
    assert device.call_names == [
        "AMT_GeneralSettings.Get",
        "IPS_HostBasedSetupService.Setup",
        "AMT_SetupAndConfigurationService.CommitChanges",
        "AMT_GeneralSettings.Get",
    ]
    # Only tls_data went out; the 401 (Connection: close) and the explicit rebuild each cost a
    # new session, and the persistent tunnel carried the calls in between.
    assert {message["method"] for message in relay.sent} == {"tls_data"}
    assert transport.sessions_opened == relay.hellos == 3
    # Every request named port 16993 and none asked to close the persistent tunnel.
    assert transport.requests and all(
        f"Host: {device.identity.uuid}:16993".encode() in request and b"Connection: close" not in request
        for request in transport.requests
    )


async def test_a_chain_not_ending_at_a_trusted_root_is_refused_before_any_request() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    other_root = make_on_die_ca().root

    def check(chain: list[bytes]) -> object:
        return verify_device_chain(chain, [other_root])

    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        relay = Relay(endpoint.host, endpoint.tls_port)
        amt, transport = tunnel_session(relay, device, verify=check)
        try:
            with pytest.raises(UntrustedDeviceCertificate) as refused:
                await amt.call(setup.get_general_settings())
        finally:
            await relay.close()
    assert "On-Die CA" in refused.value.failure_text
    assert "amtsim On-Die CA Intermediate" in str(refused.value)
    assert device.calls == [] and device.auth_failures == []
    assert transport.sessions_opened == 1, "an untrusted chain is not retried"


async def test_a_connection_reset_mid_flow_is_retried_with_a_fresh_handshake() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    device.faults.add(Fault.reset(call="AMT_GeneralSettings.Get"))
    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        relay = Relay(endpoint.host, endpoint.tls_port)
        amt, transport = tunnel_session(relay, device)
        try:
            settings = await amt.call(setup.get_general_settings())
        finally:
            await relay.close()
    assert settings.has_valid_digest_realm
    assert [fired.kind.value for fired in device.faults.fired] == ["reset"]
    assert device.call_names == ["AMT_GeneralSettings.Get"] * 2  # the reset one, then the retry
    # 401 (Connection: close), the reset, the retry (re-wrapped: a fresh digest nonce count).
    assert transport.sessions_opened == 3


async def test_resets_on_every_attempt_end_in_a_timeout_error() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    device.faults.add(Fault.reset(call="AMT_GeneralSettings.Get", times=None))
    async with serve_device(device) as endpoint:
        assert endpoint.tls_port is not None
        relay = Relay(endpoint.host, endpoint.tls_port)
        amt, _ = tunnel_session(relay, device)
        try:
            with pytest.raises(AmtTimeout):
                await amt.call(setup.get_general_settings())
        finally:
            await relay.close()
    assert device.call_names == ["AMT_GeneralSettings.Get"] * 3  # three attempts, each reset


async def test_a_silent_device_times_out_and_the_next_call_starts_a_new_session() -> None:
    sent: list[str] = []

    async def swallow(text: str) -> None:
        sent.append(text)

    transport = TlsTunnelTransport(swallow, verify_chain=None)
    with pytest.raises(TimeoutError):
        await transport.exchange(b"POST /wsman HTTP/1.1\r\n\r\n", timeout=0.1)
    assert transport.sessions_opened == 1 and len(sent) == 1  # the ClientHello only
    hello = base64.b64decode(json.loads(sent[0])["payload"])
    assert hello[0] == 0x16 and hello[5] == 0x01


async def test_port_switch_waits_for_the_ack() -> None:
    sent: list[str] = []
    transport = TlsTunnelTransport(lambda text: _record(sent, text), verify_chain=None)

    async def ack_soon() -> None:
        await asyncio.sleep(0.05)
        transport.deliver(PortSwitchAck())

    acknowledging = asyncio.create_task(ack_soon())
    await transport.switch_port(delay_seconds=0)
    await acknowledging
    message = json.loads(sent[0])
    assert message["method"] == "port_switch"
    assert json.loads(message["payload"]) == {"port": "16993", "delay": 0}


async def _record(sent: list[str], text: str) -> None:
    sent.append(text)


def test_stale_application_data_before_the_server_hello_is_dropped() -> None:
    incoming, outgoing = __import__("ssl").MemoryBIO(), __import__("ssl").MemoryBIO()
    engine = tunnel_client_context().wrap_bio(incoming, outgoing)
    session = _TlsSession(engine, incoming, outgoing)
    stale = bytes([0x17, 3, 3, 0, 4]) + b"old!"
    hello_start = bytes([0x16, 3, 3, 0, 10]) + b"12345"
    session.feed(stale + stale[:3])
    session.feed(stale[3:] + hello_start)
    assert session.dropped_records == 2
    assert incoming.read() == hello_start
    # From the first handshake record on, everything goes in (TLS 1.3 encrypts handshake
    # messages in records of type 0x17).
    session.feed(stale)
    assert incoming.read() == stale


@pytest.mark.parametrize(
    ("response", "complete"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0004\r\nabcd\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0004\r\nabcd\r\n0\r\n", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0008\r\nab0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", False),
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nabcd", True),
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nab", False),
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Len", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcd", False),
    ],
)
def test_response_completeness(response: bytes, complete: bool) -> None:
    assert http_response_complete(response) is complete


# -- the chain check (§5.4) ------------------------------------------------------------------


def _certificate(subject: str, issuer: str, key, signing_key, *, days=(-1, 30), ca=False):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA384())
    )


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)


def test_the_shipped_intel_root_loads_without_a_warning_and_extra_roots_are_added(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(shared_on_die_ca().root_pem())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        anchors = load_trust_anchors(str(bundle))
    assert anchors[0].subject.rfc4514_string().startswith("CN=www.intel.com,OU=OnDie CA Root Cert Signing")
    assert anchors[1] == shared_on_die_ca().root
    identity = shared_on_die_ca().issue_device_tls_identity("u")
    assert verify_device_chain([_der(c) for c in identity.certificates], anchors) == shared_on_die_ca().root
    with pytest.raises(UntrustedDeviceCertificate):
        verify_device_chain([_der(c) for c in identity.certificates], anchors[:1])


def test_chain_checks_signatures_dates_and_issuer_rights() -> None:
    root_key, middle_key, leaf_key, forger = (ec.generate_private_key(ec.SECP384R1()) for _ in range(4))
    root = _certificate("root", "root", root_key, root_key, ca=True)
    middle = _certificate("middle", "root", middle_key, root_key, ca=True)
    leaf = _certificate("leaf", "middle", leaf_key, middle_key)
    assert verify_device_chain([_der(leaf), _der(middle)], [root]) == root
    assert verify_device_chain([_der(leaf), _der(middle), _der(root)], [root]) == root
    # The same names, signed by a key that is not the issuer's.
    forged = _certificate("leaf", "middle", leaf_key, forger)
    with pytest.raises(UntrustedDeviceCertificate, match="signed CN=leaf"):
        verify_device_chain([_der(forged), _der(middle)], [root])
    expired = _certificate("leaf", "middle", leaf_key, middle_key, days=(-30, -1))
    with pytest.raises(UntrustedDeviceCertificate, match="validity period"):
        verify_device_chain([_der(expired), _der(middle)], [root])
    # An end-entity certificate cannot issue the next one.
    not_a_ca = _certificate("middle", "root", middle_key, root_key, ca=False)
    with pytest.raises(UntrustedDeviceCertificate):
        verify_device_chain([_der(leaf), _der(not_a_ca)], [root])
    with pytest.raises(UntrustedDeviceCertificate, match="no certificate"):
        verify_device_chain([], [root])
    with pytest.raises(UntrustedDeviceCertificate, match="unreadable"):
        verify_device_chain([b"junk"], [root])


# -- the AMT 19+ commit after Setup (activation/flows/tls_enforced.py) ------------------------


class CommitOnlyAsLocalAccount:
    """Firmware that applies Setup at CommitChanges: `admin` is refused until then."""

    def __init__(self) -> None:
        self.username = "admin"
        self.logins: list[str] = []

    def use_credentials(self, username: str, password: Secret) -> None:
        self.username = username

    async def call(self, call):  # type: ignore[no-untyped-def]
        self.logins.append(self.username)
        if self.username != "$$OsAdmin":
            raise AmtUnauthorized(call.name, "credentials of 'admin' refused")
        return MethodResult(return_value=0, output=None)  # type: ignore[arg-type]


async def test_commit_after_setup_falls_back_to_the_local_account_and_keeps_admin() -> None:
    amt = CommitOnlyAsLocalAccount()
    result = FlowResult(status=ActivationStatus(status="Client control mode."))
    plan = type("Plan", (), {"amt_password": Secret(PASSWORD)})()
    committed = await _commit_setup(
        amt,  # type: ignore[arg-type]
        result,
        local_username="$$OsAdmin",
        local_password=Secret("lsa"),
        plan=plan,  # type: ignore[arg-type]
    )
    assert committed and amt.logins == ["admin", "$$OsAdmin"]
    assert amt.username == "admin"
    assert [step.name for step in result.steps] == ["AMT_SetupAndConfigurationService.CommitChanges"]


def test_after_tls_configuration_sessions_must_present_the_installed_leaf() -> None:
    """§5.4: once RPS installed its certificate, a tunnel to any other leaf is refused."""

    async def send(_: str) -> None:
        return None

    transport = TlsTunnelTransport(send, verify_chain=None)
    transport.pin_leaf(b"installed-leaf-der")
    check = transport._verify_chain
    assert check is not None
    check([b"installed-leaf-der", b"mps-root-der"])
    with pytest.raises(UntrustedDeviceCertificate):
        check([b"some-other-leaf", b"mps-root-der"])
    with pytest.raises(UntrustedDeviceCertificate):
        check([])
