"""AmtSession: HTTP framing, digest auth, de-chunking, retries, non-idempotent calls."""

from __future__ import annotations

import pytest

from activation.amt_http import build_http_request, dechunk, parse_http_response
from activation.digest_auth import digest_response, parse_digest_challenge
from activation.session import AmtSession
from activation.session_errors import (
    AmtHttpError,
    AmtResponseMalformed,
    AmtTimeout,
    AmtUnauthorized,
    DeviceStoppedAnswering,
    NonIdempotentCallTimedOut,
)
from activation.wsman import setup
from activation.wsman.network import ETHERNET_PORT_SETTINGS
from activation.wsman.response import UnsafeXml, WsmanFault
from rps_site.sensitive import Secret
from tests.activation.scripted_device import (
    NO_ANSWER,
    Answer,
    ScriptedDevice,
    chunked_http,
    fault,
    fixture,
    ok,
)

GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"
LSA_PASSWORD = "P@ssw0rd"


def test_digest_rfc2617_example() -> None:
    # RFC 2617 §3.5
    assert (
        digest_response(
            username="Mufasa",
            password=Secret("Circle Of Life"),
            realm="testrealm@host.com",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            nonce_count="00000001",
            cnonce="0a4f113b",
            qop="auth",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_digest_amt_example() -> None:
    # protocol.md §3.3 step 7
    assert (
        digest_response(
            username="$$OsAdmin",
            password=Secret("P@ssw0rd"),
            realm="Digest:A4070000000000000000000000000000",
            method="POST",
            uri="/wsman",
            nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",
            nonce_count="00000001",
            cnonce="k2j4h5",
            qop="auth",
        )
        == "3cc690a850cf0f54988fafb9d31f238c"
    )


def test_challenge_parsed_from_amt_401() -> None:
    response = parse_http_response(fixture("http/401_digest_challenge_AMT11.http"))
    assert response.status == 401
    challenge = parse_digest_challenge(response.headers["www-authenticate"])
    assert challenge is not None
    assert challenge.realm == "Digest:A4070000000000000000000000000000"
    assert challenge.nonce == "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63"
    assert challenge.qop == "auth"
    assert parse_digest_challenge("Basic realm=x") is None


def test_http_request_framing() -> None:
    body = "<x>é</x>".encode()
    request = build_http_request(host=f"{GUID}:16992", body=body, authorization=None)
    assert (
        request
        == (
            f"POST /wsman HTTP/1.1\r\nHost: {GUID}:16992\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "9\r\n"
        ).encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    with_auth = build_http_request(host="h:16993", body=b"<a/>", authorization="Digest x", connection_close=False)
    assert with_auth.startswith(b"POST /wsman HTTP/1.1\r\nAuthorization: Digest x\r\nHost: h:16993\r\n")
    assert b"Connection" not in with_auth and b"Content-Length" not in with_auth


def test_recorded_chunked_200_is_dechunked_once() -> None:
    response = parse_http_response(fixture("http/200_chunked_GeneralSettings_AMT15.http"))
    assert response.status == 200
    assert response.body == fixture("AMT_GeneralSettings_Get_AMT15_rps.xml")


def test_body_that_looks_chunked_is_not_dechunked_twice() -> None:
    inner = b"5\r\nhello\r\n0\r\n\r\n"
    assert parse_http_response(chunked_http("200 OK", inner)).body == inner
    assert dechunk(b"3;ext=1\r\nabc\r\n0\r\n\r\n") == b"abc"
    with pytest.raises(AmtResponseMalformed):
        dechunk(b"A\r\nshort\r\n")
    with pytest.raises(AmtResponseMalformed):
        dechunk(b"zz\r\n")


def test_content_length_bodies_are_accepted() -> None:
    response = parse_http_response(fixture("http/400_bad_request_AMT15.http"))
    assert (response.status, response.reason, len(response.body)) == (400, "Bad Request", 400)
    with pytest.raises(AmtResponseMalformed):
        parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(AmtResponseMalformed):
        parse_http_response(b"garbage")


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def session_for(device: ScriptedDevice, sleep: RecordingSleep | None = None) -> AmtSession:
    return AmtSession(
        device,
        device_guid=GUID,
        username=device.username,
        password=Secret(device.password),
        sleep=sleep or RecordingSleep(),
    )


def lsa_device(*answers: Answer) -> ScriptedDevice:
    return ScriptedDevice(username="$$OsAdmin", password=LSA_PASSWORD, answers=list(answers))


async def test_first_call_is_challenged_then_authenticated() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"))
    amt = session_for(device)
    settings = await amt.call(setup.get_general_settings())
    assert settings.digest_realm == "Digest:F3EB554784E729164447A89F60B641C5"
    first, second = device.received
    assert "authorization" not in first.headers
    assert second.headers["authorization"].startswith('Digest username="$$OsAdmin",realm="Digest:A407')
    assert 'uri="/wsman",qop="auth",response="' in second.headers["authorization"]
    assert 'nc="00000001"' in second.headers["authorization"]
    # correction 6: the 401 retry is rebuilt, with a new MessageID
    assert (first.message_id, second.message_id) == ("0", "1")
    assert second.headers["host"] == f"{GUID}:16992"


async def test_nonce_count_increases_on_every_authenticated_request() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), ok("IPS_HostBasedSetupService_Get.xml"))
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    state = await amt.call(setup.get_host_based_setup())
    assert state.current_control_mode == 2
    assert device.seen_nonce_counts == ["00000001", "00000002"]


async def test_new_challenge_is_always_recorded() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), ok("IPS_HostBasedSetupService_Get.xml"))
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    device.rotate_nonce("B9AX94iAAAAAAAAAx6rrSfPHGUrx/3uA")
    await amt.call(setup.get_host_based_setup())
    assert amt.challenge is not None and amt.challenge.nonce == "B9AX94iAAAAAAAAAx6rrSfPHGUrx/3uA"


async def test_wrong_password_fails_after_two_refused_logins() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"))
    amt = AmtSession(device, device_guid=GUID, username="$$OsAdmin", password=Secret("wrong-Secret1"))
    with pytest.raises(AmtUnauthorized) as caught:
        await amt.call(setup.get_general_settings())
    assert len(device.received) == 3
    assert caught.value.failure_text == "Unable to authenticate with AMT"
    assert "wrong-Secret1" not in str(caught.value)


async def test_switched_credentials_are_used() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), ok("IPS_HostBasedSetupService_Get.xml"))
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    device.username, device.password = "admin", "N3w-Admin!"
    amt.use_credentials("admin", Secret("N3w-Admin!"))
    await amt.call(setup.get_host_based_setup())
    assert device.received[-1].headers["authorization"].startswith('Digest username="admin"')


async def test_timeout_is_retried_with_identical_bytes_after_the_delay() -> None:
    sleep = RecordingSleep()
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), NO_ANSWER, ok("IPS_HostBasedSetupService_Get.xml"))
    amt = session_for(device, sleep)
    await amt.call(setup.get_general_settings())
    await amt.call(setup.get_host_based_setup())
    assert sleep.delays == [15.0]
    assert device.received[-1].raw == device.received[-2].raw
    assert device.timeouts_seen[-1] == 12.0


async def test_timeouts_on_every_attempt() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), NO_ANSWER, NO_ANSWER, NO_ANSWER)
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    with pytest.raises(AmtTimeout, match="IPS_HostBasedSetupService.Get"):
        await amt.call(setup.get_host_based_setup())
    assert len(device.received) == 5


class RelayedDevice(ScriptedDevice):
    """A scripted device behind a relay that counts the client's frames, as the consumer's do;
    `late_answers` frames arrive (and are dropped) while each unanswered attempt waits."""

    def __init__(self, *answers: Answer, late_answers: int = 0) -> None:
        super().__init__(username="$$OsAdmin", password=LSA_PASSWORD, answers=list(answers))
        self.frames_received = 0
        self.late_answers = late_answers

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        try:
            answer = await super().exchange(http_request, timeout=timeout)
        except TimeoutError:
            self.frames_received += self.late_answers
            raise
        self.frames_received += 1
        return answer


async def test_a_client_that_sends_nothing_through_every_attempt_ends_the_session_naming_the_call() -> None:
    device = RelayedDevice(ok("AMT_GeneralSettings_Get.xml"), NO_ANSWER, NO_ANSWER, NO_ANSWER)
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    with pytest.raises(DeviceStoppedAnswering, match="stopped answering at IPS_HostBasedSetupService.Get"):
        await amt.call(setup.get_host_based_setup())
    assert len(device.received) == 5  # §3.6: every attempt was made first


async def test_a_slow_device_whose_answers_arrive_late_still_gets_an_ordinary_timeout() -> None:
    device = RelayedDevice(ok("AMT_GeneralSettings_Get.xml"), NO_ANSWER, NO_ANSWER, NO_ANSWER, late_answers=1)
    amt = session_for(device)
    await amt.call(setup.get_general_settings())
    with pytest.raises(AmtTimeout, match="IPS_HostBasedSetupService.Get"):
        await amt.call(setup.get_host_based_setup())


async def test_setup_is_never_resent() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get.xml"), NO_ANSWER)
    amt = session_for(device)
    settings = await amt.call(setup.get_general_settings())
    password_hash = setup.admin_password_hash(settings.digest_realm, Secret("Amt-Pass1"))
    with pytest.raises(NonIdempotentCallTimedOut):
        await amt.call(setup.setup(password_hash))
    assert device.call_names.count("IPS_HostBasedSetupService.Setup") == 1


async def test_unreadable_answer_is_retried_at_once() -> None:
    sleep = RecordingSleep()
    broken = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n<a:Envelope"
    device = lsa_device(broken, ok("AMT_GeneralSettings_Get.xml"))
    amt = session_for(device, sleep)
    await amt.call(setup.get_general_settings())
    assert sleep.delays == []


async def test_soap_fault_and_html_400() -> None:
    device = lsa_device(fault("SOAPFault_AlreadyExists.xml"), fixture("http/400_bad_request_AMT15.http"))
    amt = session_for(device)
    with pytest.raises(WsmanFault) as caught:
        await amt.call(setup.get_general_settings())
    assert caught.value.subcode == "AlreadyExists"
    with pytest.raises(AmtHttpError) as http_error:
        await amt.call(setup.get_general_settings())
    assert (http_error.value.status, http_error.value.failure_text) == (400, "Bad Request")


XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
BOMB = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><r>&c;</r>"""


@pytest.mark.parametrize("document", [XXE, BOMB])
async def test_hostile_xml_ends_the_call(document: bytes) -> None:
    device = lsa_device(chunked_http("200 OK", document))
    amt = session_for(device)
    with pytest.raises(UnsafeXml):
        await amt.call(setup.get_general_settings())
    assert len(device.received) == 2  # not retried


async def test_enumerate_then_pull() -> None:
    device = lsa_device(ok("AMT_EthernetPortSettings_Enumerate.xml"), ok("AMT_EthernetPortSettings_Pull.xml"))
    amt = session_for(device)
    ports = await amt.enumerate(ETHERNET_PORT_SETTINGS)
    assert [port.is_wired for port in ports] == [True, False]
    assert device.call_names == ["AMT_EthernetPortSettings.Enumerate", "AMT_EthernetPortSettings.Pull"]
    assert "<EnumerationContext>7700000-0000-0000-0000-000000000000</EnumerationContext>" in device.received[-1].body


def test_session_repr_hides_the_password() -> None:
    amt = AmtSession(lsa_device(), device_guid=GUID, username="admin", password=Secret("Hidden-Pass1"))
    assert "Hidden-Pass1" not in repr(amt)
    assert "Hidden-Pass1" not in repr(setup.set_mebx_password(Secret("Hidden-Pass1")))
