"""The EA endpoint and the exchange the flows call, in process: Channels' communicator plays the EA's
socket, the in-memory channel layer carries requests between the exchange and the EA connection.
(tests/e2e/test_enterprise_assistant.py does the same over WSS, with daphne, Redis and amtsim's EA.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from activation.enterprise_assistant import (
    EAP_TLS,
    PEAP_MSCHAPV2,
    EnterpriseAssistantDisconnected,
    EnterpriseAssistantExchange,
    EnterpriseAssistantProtocolUnsupported,
    EnterpriseAssistantReplyMalformed,
    EnterpriseAssistantTimeout,
    EnterpriseAssistantUnavailable,
)
from activation.enterprise_assistant.authentication import authenticate_assistant, meshauth_credentials
from activation.enterprise_assistant.consumers import EA_FRAME_LIMIT, EnterpriseAssistantConsumer
from activation.enterprise_assistant.routing import EnterpriseAssistantListener
from activation.routing import websocket_application
from rps_site.sensitive import Secret
from tests.activation.enterprise_assistant_helpers import KEY_INSTANCE_ID, AmtKey, EaAnswers, meshauth

# What `rps_site.serve` puts in the scope of a connection made over TLS.
TLS = {"asgi": {"version": "3.0", "spec_version": "2.3"}, "extensions": {"tls": {}}}
CORP = ("ea-corp", "corp-password-0123456789")
ACME = ("ea-acme", "acme-password-0123456789")


@pytest.fixture(autouse=True)
def assistant_settings(settings: Any) -> None:
    # A fresh in-memory layer per test (changing the setting resets Channels' layers).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EA_ACCOUNTS = {CORP[0]: (Secret(CORP[1]), ""), ACME[0]: (Secret(ACME[1]), "acme")}
    settings.EA_ALLOW_ANONYMOUS = False


class Assistant:
    """One EA connection, played by the test."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def request(self) -> dict[str, Any]:
        return dict(json.loads(await self.communicator.receive_from(timeout=3)))

    async def say(self, message: dict[str, Any] | str) -> None:
        await self.communicator.send_to(text_data=message if isinstance(message, str) else json.dumps(message))

    async def close(self) -> None:
        if not self.communicator.future.done():
            await self.communicator.disconnect()


async def connect(credentials: tuple[str, str] | None = CORP, path: str = "/ea") -> tuple[Assistant, bool]:
    headers = [(b"x-meshauth", meshauth(*credentials))] if credentials else []
    communicator = WebsocketCommunicator(EnterpriseAssistantConsumer.as_asgi(), path, headers=headers)
    communicator.scope.update(TLS)
    connected, _ = await communicator.connect()
    return Assistant(communicator), connected


@pytest.fixture
async def assistant() -> AsyncIterator[Assistant]:
    connected_assistant, connected = await connect()
    assert connected
    yield connected_assistant
    await connected_assistant.close()


def exchange(tenant_id: str = "", **options: Any) -> EnterpriseAssistantExchange:
    return EnterpriseAssistantExchange(
        tenant_id=tenant_id, device_name="desktop-01", **{"timeout": 2.0, "routing_timeout": 0.5, **options}
    )


def started(call: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(call)


# -- authentication -------------------------------------------------------------------------


def test_meshauth_is_two_base64_parts() -> None:
    assert meshauth_credentials(meshauth("ea", "pw").decode()) == (b"ea", b"pw")
    assert meshauth_credentials(meshauth("ea", "pw").decode() + ",dG9rZW4=") == (b"ea", b"pw")
    for bad in (None, "", "ZWE=", "ZWE=,!!!", "a,b,c,d"):
        assert meshauth_credentials(bad) is None


def test_credentials_pick_the_account_and_its_tenant(settings: Any) -> None:
    assert authenticate_assistant(meshauth(*ACME).decode()).tenant_id == "acme"  # type: ignore[union-attr]
    assert authenticate_assistant(meshauth(*CORP).decode()).user == "ea-corp"  # type: ignore[union-attr]
    for refused in (meshauth(CORP[0], ACME[1]).decode(), meshauth("nobody", CORP[1]).decode(), None, "garbage"):
        assert authenticate_assistant(refused) is None
    settings.EA_ALLOW_ANONYMOUS = True
    anonymous = authenticate_assistant(None)
    assert anonymous is not None and anonymous.user is None and anonymous.tenant_id == ""
    assert authenticate_assistant(meshauth(*ACME).decode()).tenant_id == "acme"  # type: ignore[union-attr]


@pytest.mark.parametrize("credentials", [None, ("ea-corp", "wrong-password-0123456"), ("", "")])
async def test_an_ea_without_valid_credentials_is_refused_and_gets_nothing(
    credentials: tuple[str, str] | None,
) -> None:
    refused, connected = await connect(credentials)
    assert not connected
    with pytest.raises(EnterpriseAssistantUnavailable, match="no Enterprise Assistant is connected"):
        await exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)
    await refused.close()


async def test_valid_credentials_over_plain_ws_are_refused() -> None:
    # The password rode in the clear: refused outside debug, like a device's plain ws://.
    communicator = WebsocketCommunicator(
        EnterpriseAssistantConsumer.as_asgi(), "/ea", headers=[(b"x-meshauth", meshauth(*CORP))]
    )
    connected, _ = await communicator.connect()
    assert not connected
    with pytest.raises(EnterpriseAssistantUnavailable):
        await exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)


async def test_debug_may_let_an_anonymous_ea_serve_the_default_tenant(settings: Any) -> None:
    settings.EA_ALLOW_ANONYMOUS = True
    anonymous, connected = await connect(None)
    assert connected
    call = started(exchange().request_profile(auth_protocol=EAP_TLS))
    await anonymous.say(await anonymous.request())  # the current EA echoes the EAP-TLS request
    assert (await call).account is None
    await anonymous.close()


# -- the three requests ---------------------------------------------------------------------


async def test_peap_profile_request(assistant: Assistant) -> None:
    call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
    request = await assistant.request()
    assert request["subaction"] == "802.1x-ProFile-Request" and request["authProtocol"] == 2
    assert request["devname"] == "desktop-01" and len(request["nodeid"]) == 36
    await assistant.say({"action": "satellite", "setFlags": 3})  # the EA's hello is no answer
    await assistant.say(EaAnswers().peap(request, password="Canary+Pass/word1"))
    account = (await call).account
    assert account is not None and account.password.reveal() == "Canary+Pass/word1"


async def test_eap_tls_exchange_gives_a_certificate_for_amts_key(assistant: Assistant) -> None:
    amt, answers, ea = AmtKey(), EaAnswers(), exchange()
    call = started(ea.request_profile(auth_protocol=EAP_TLS))
    await assistant.say(await assistant.request())
    assert (await call).account is None
    call = started(ea.send_key_pair(der_key=amt.der_key, key_instance_id=KEY_INSTANCE_ID))
    key_pair = await assistant.request()
    assert (key_pair["DERKey"], key_pair["keyInstanceId"], key_pair["authProtocol"]) == (
        amt.der_key,
        KEY_INSTANCE_ID,
        0,
    )
    await assistant.say(answers.csr_request(key_pair))
    template = await call
    call = started(ea.send_csr_response(signed_csr=amt.sign(template.null_signed_request)))
    csr = await assistant.request()
    assert csr["nodeid"] == key_pair["nodeid"]  # one nodeid for the whole exchange
    await assistant.say(answers.issued(csr))
    issued = await call
    assert issued.certificate.public_key() == amt.key.public_key()
    issued.certificate.verify_directly_issued_by(answers.ca.root)


async def test_steps_run_in_order_once() -> None:
    ea = exchange()
    with pytest.raises(RuntimeError, match="out of order"):
        await ea.send_csr_response(signed_csr="MIID")
    with pytest.raises(EnterpriseAssistantProtocolUnsupported, match="protocol 3"):
        await ea.request_profile(auth_protocol=3)  # PEAPv1/EAP-GTC: no EA answers it (B5)


async def test_a_protocol_the_ea_cannot_serve_is_refused_before_sending(assistant: Assistant) -> None:
    with pytest.raises(EnterpriseAssistantProtocolUnsupported):
        await exchange().request_profile(auth_protocol=10)
    assert await assistant.communicator.receive_nothing(timeout=0.3)


# -- failures end only the request that waits --------------------------------------------------


async def test_silence_ends_the_request_after_its_own_timeout(assistant: Assistant) -> None:
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    with pytest.raises(EnterpriseAssistantTimeout, match="did not answer within 0.4 s"):
        await exchange(timeout=0.4).request_profile(auth_protocol=PEAP_MSCHAPV2)
    assert loop.time() - started_at >= 0.4


async def test_a_late_reply_is_dropped_and_cannot_answer_the_next_request(assistant: Assistant) -> None:
    answers = EaAnswers()
    with pytest.raises(EnterpriseAssistantTimeout):
        await exchange(timeout=0.3).request_profile(auth_protocol=PEAP_MSCHAPV2)
    late = answers.peap(await assistant.request(), password="Late+Pass/word1")
    call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
    current = await assistant.request()
    await assistant.say(late)  # S18: the answer to the timed-out request arrives now
    await assistant.say(answers.peap(current, password="Good+Pass/word1"))
    account = (await call).account
    assert account is not None and account.password.reveal() == "Good+Pass/word1"


async def test_a_reply_of_the_wrong_kind_is_dropped_and_named(assistant: Assistant) -> None:
    amt, answers, ea = AmtKey(), EaAnswers(), exchange(timeout=0.6)
    call = started(ea.request_profile(auth_protocol=EAP_TLS))
    profile = await assistant.request()
    await assistant.say(profile)
    await call
    call = started(ea.send_key_pair(der_key=amt.der_key, key_instance_id=KEY_INSTANCE_ID))
    key_pair = await assistant.request()
    await assistant.say(profile)  # S19: the profile reply again, a duplicate
    await assistant.say({**answers.csr_request(key_pair), "subaction": "Profile-Completed"})  # S21
    with pytest.raises(EnterpriseAssistantTimeout, match="subaction 'Profile-Completed'"):
        await call


async def test_duplicates_the_hello_and_garbage_do_not_disturb_the_answer(assistant: Assistant) -> None:
    answers = EaAnswers()
    call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
    request = await assistant.request()
    for noise in ("{not json", "[" * 5000, json.dumps([1, 2]), json.dumps({"nodeid": ["x"]}), "null"):
        await assistant.say(noise)  # S20
    await assistant.say({**answers.peap(request), "nodeid": "00000000-0000-4000-8000-000000000000"})  # S17
    await assistant.say(answers.peap(request, password="First+Pass/word1"))
    await assistant.say(answers.peap(request, password="Second+Pass/word1"))  # S19: the first one wins
    account = (await call).account
    assert account is not None and account.password.reveal() == "First+Pass/word1"


async def test_a_malformed_reply_fails_the_request_at_once(assistant: Assistant) -> None:
    call = started(exchange(timeout=10).request_profile(auth_protocol=PEAP_MSCHAPV2))
    reply = EaAnswers().peap(await assistant.request())
    del reply["response"]  # S15
    await assistant.say(reply)
    with pytest.raises(EnterpriseAssistantReplyMalformed, match="no response object"):
        await asyncio.wait_for(call, 1)  # not the 10 s timeout


async def test_a_closed_socket_fails_its_pending_request_at_once(assistant: Assistant) -> None:
    call = started(exchange(timeout=30).request_profile(auth_protocol=PEAP_MSCHAPV2))
    await assistant.request()
    await assistant.close()
    with pytest.raises(EnterpriseAssistantDisconnected, match="closed while the request was pending"):
        await asyncio.wait_for(call, 2)


async def test_an_oversized_frame_closes_the_socket_and_fails_the_request(assistant: Assistant) -> None:
    call = started(exchange(timeout=30).request_profile(auth_protocol=PEAP_MSCHAPV2))
    await assistant.request()
    await assistant.say("x" * (EA_FRAME_LIMIT + 1))
    assert (await assistant.communicator.receive_output(timeout=1))["type"] == "websocket.close"
    await assistant.close()
    with pytest.raises(EnterpriseAssistantDisconnected):
        await asyncio.wait_for(call, 2)


# -- several EAs, several tenants -------------------------------------------------------------


async def test_requests_go_to_a_live_ea_when_another_has_gone() -> None:
    first, _ = await connect()
    second, _ = await connect()
    await first.close()
    answers = EaAnswers()
    for _ in range(3):
        call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
        await second.say(answers.peap(await second.request()))
        assert (await call).account is not None
    await second.close()


async def test_only_the_ea_that_was_asked_can_answer() -> None:
    first, _ = await connect()
    second, _ = await connect()
    answers = EaAnswers()
    call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
    asked, other = (first, second) if await _has_request(first) else (second, first)
    request = await asked.request()
    await other.say(answers.peap(request, password="Forged+Pass/word1"))  # knows the nodeid somehow
    await asked.say(answers.peap(request, password="Real+Pass/word1"))
    account = (await call).account
    assert account is not None and account.password.reveal() == "Real+Pass/word1"
    await first.close()
    await second.close()


async def _has_request(assistant: Assistant) -> bool:
    # Peek without consuming: a request arrives within the routing round trip, or not at all.
    return not await assistant.communicator.receive_nothing(timeout=0.3)


async def test_each_tenant_is_served_by_its_own_ea() -> None:
    corp, _ = await connect(CORP)
    acme, _ = await connect(ACME)
    answers = EaAnswers()
    call = started(exchange("acme").request_profile(auth_protocol=PEAP_MSCHAPV2))
    await acme.say(answers.peap(await acme.request()))
    assert (await call).account is not None
    assert await corp.communicator.receive_nothing(timeout=0.3)
    with pytest.raises(EnterpriseAssistantUnavailable, match="tenant 'globex'"):
        await exchange("globex").request_profile(auth_protocol=PEAP_MSCHAPV2)
    await corp.close()
    await acme.close()


async def refuse_everything(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError(f"the main application got a {scope['type']} connection to the EA's port")


async def test_an_ea_on_any_path_of_its_own_port(settings: Any) -> None:
    settings.EA_PORT = 18082
    listener = EnterpriseAssistantListener(refuse_everything)  # as rps_site.asgi wraps the application
    headers = [(b"x-meshauth", meshauth(*CORP))]
    communicator = WebsocketCommunicator(listener, "/anything", headers=headers)
    communicator.scope.update(TLS, server=("127.0.0.1", 18082))
    connected, _ = await communicator.connect()
    assert connected
    call = started(exchange().request_profile(auth_protocol=PEAP_MSCHAPV2))
    request = json.loads(await communicator.receive_from(timeout=3))
    await communicator.send_to(text_data=json.dumps(EaAnswers().peap(request)))
    assert (await call).account is not None
    await communicator.disconnect()
    http = HttpCommunicator(listener, "GET", "/api/v1/admin/version")
    http.scope["server"] = ("127.0.0.1", 18082)
    assert (await http.get_response())["status"] == 404  # nothing but the EA there


@pytest.mark.django_db(transaction=True)  # the device consumer's disconnect closes database connections
async def test_the_main_port_routes_ea_to_the_assistant_and_the_rest_to_devices() -> None:
    application = websocket_application()
    # Without credentials the EA endpoint refuses; the device endpoint accepts.
    for path, accepted in (("/ea", False), ("/ea/", False), ("/activate", True), ("/eager", True)):
        communicator = WebsocketCommunicator(application, path)
        communicator.scope.update(TLS)
        connected, _ = await communicator.connect()
        assert connected is accepted, path
        await communicator.disconnect()
