"""The Enterprise Assistant endpoint end to end: daphne over TLS with a Redis channel layer,
amtsim's virtual EA connecting over WSS, and the exchange run from this test process through the
same Redis, exactly as an activation in another worker process would run it. The virtual device
plays AMT's part (key pair, signing, storing what it is given).

Each test has a tenant of its own (random per run), so EAs of one test never serve another, and
nothing collides with other users of the shared Redis."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets as random_source
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer

from activation.enterprise_assistant import (
    EAP_TLS,
    PEAP_MSCHAPV2,
    EnterpriseAssistantDisconnected,
    EnterpriseAssistantExchange,
    EnterpriseAssistantReplyMalformed,
    EnterpriseAssistantTimeout,
    EnterpriseAssistantUnavailable,
)
from amtsim.enterprise_assistant import (
    CSR_RESPONSE,
    KEY_PAIR_RESPONSE,
    PROFILE_REQUEST,
    EaFault,
    ReplyStyle,
    VirtualEnterpriseAssistant,
    running_enterprise_assistant,
)
from rps_site.openbao_dev import free_port
from rps_site.serving import daphne_command, make_self_signed_certificate
from tests.amtsim.rps_double import epr, method, put
from tests.amtsim.test_fixture_shapes import InProcessRps
from tests.amtsim.test_ieee8021x_certificates import ACCEPTED, activated, add, generate_key_pair, sign
from tests.e2e.conftest import RpsServer, running_server

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = random_source.token_hex(4)
TENANTS = [f"e2e-{RUN}-{index}" for index in range(16)]
ACCOUNTS = {f"ea-{tenant}": (f"{tenant}-password-{random_source.token_hex(8)}", tenant) for tenant in TENANTS}
_unused_tenants = itertools.count()


@dataclass
class EaServer:
    port: int
    ea_port: int
    ca_file: Path
    log_path: Path

    def url(self, path: str = "/ea") -> str:
        return f"wss://127.0.0.1:{self.port}{path}"

    def own_port_url(self, path: str = "/") -> str:
        return f"wss://127.0.0.1:{self.ea_port}{path}"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture(scope="module")
def ea_server(rps_server: RpsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EaServer]:
    """A second worker on the e2e database with a Redis channel layer and the EA accounts."""
    certificate, key = make_self_signed_certificate(rps_server.ca_file.parent)
    port, ea_port = free_port(), free_port()
    environment = {
        **rps_server.environment,
        "RPS_REDIS_URL": REDIS_URL,
        "RPS_EA_PORT": str(ea_port),
        "RPS_EA_ACCOUNTS": json.dumps(
            {user: {"password": password, "tenant": tenant} for user, (password, tenant) in ACCOUNTS.items()}
        ),
    }
    log_path = tmp_path_factory.mktemp("ea-e2e") / "server.log"
    command = daphne_command(port=port, tls=(certificate, key), ea_port=ea_port)
    probe = f"https://127.0.0.1:{port}/api/v1/admin/version"
    with running_server(command, environment, log_path, probe_url=probe, ca_file=certificate):
        yield EaServer(port, ea_port, certificate, log_path)


@pytest.fixture
def tenant() -> tuple[str, tuple[str, str]]:
    """A tenant no other test uses, and its EA's credentials."""
    name = TENANTS[next(_unused_tenants)]
    user = f"ea-{name}"
    return name, (user, ACCOUNTS[user][0])


@pytest.fixture
async def layer() -> AsyncIterator[RedisChannelLayer]:
    channel_layer = RedisChannelLayer(hosts=[REDIS_URL])
    yield channel_layer
    await channel_layer.close_pools()


def assistant(server: EaServer, credentials: tuple[str, str] | None, **options: Any) -> VirtualEnterpriseAssistant:
    return VirtualEnterpriseAssistant(
        options.pop("url", server.url()), credentials=credentials, ssl_context=server.ssl_context(), **options
    )


@dataclass
class Requester:
    """Opens exchanges for one tenant over the test's Redis layer, as a worker would."""

    tenant_id: str
    layer: RedisChannelLayer

    def exchange(self, *, timeout: float = 10.0) -> EnterpriseAssistantExchange:
        return EnterpriseAssistantExchange(
            tenant_id=self.tenant_id, device_name="desktop-01", timeout=timeout, channel_layer=self.layer
        )


@pytest.fixture
def requester(tenant: tuple[str, tuple[str, str]], layer: RedisChannelLayer) -> Requester:
    return Requester(tenant[0], layer)


async def run_eap_tls(requester: Requester, amt: InProcessRps, *, timeout: float = 10.0) -> tuple[str, str]:
    """The EA's part of wired EAP-TLS (W2-W10, §4.2) with the virtual device as AMT: the handles of
    the client certificate and the root it was given."""
    exchange = requester.exchange(timeout=timeout)
    assert (await exchange.request_profile(auth_protocol=EAP_TLS)).account is None
    key_instance_id, der_key = generate_key_pair(amt)
    template = await exchange.send_key_pair(der_key=der_key, key_instance_id=key_instance_id)
    signed = sign(amt, key_instance_id, base64.b64decode(template.null_signed_request))
    assert signed is not None
    issued = await exchange.send_csr_response(signed_csr=signed)
    client = add(amt, "AddCertificate", issued.certificate)
    root = add(amt, "AddTrustedRootCertificate", issued.root_certificate)
    assert client and root
    return client, root


def certificate_link(role: str, handle: str) -> str:
    return f"<h:{role}>{epr('AMT_PublicKeyCertificate', {'InstanceID': handle})}</h:{role}>"


async def wait_for_refusal(ea: VirtualEnterpriseAssistant) -> None:
    for _ in range(100):
        if ea.refusals or ea.connections:
            return
        await asyncio.sleep(0.05)


# -- authentication and where the EA connects ----------------------------------------------------


@pytest.mark.parametrize("where", ["main port /ea", "own port, any path"])
async def test_an_ea_must_authenticate(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester, where: str
) -> None:
    url = ea_server.url() if where.startswith("main") else ea_server.own_port_url("/any/path")
    user, password = tenant[1]
    for credentials in (None, (user, password + "x"), ("nobody", password)):
        refused = assistant(ea_server, credentials, url=url, reconnect=False)
        refused.start()
        await wait_for_refusal(refused)
        await refused.stop()
        assert refused.refusals == [403] and refused.connections == 0, credentials
    with pytest.raises(EnterpriseAssistantUnavailable, match="no Enterprise Assistant is connected"):
        await requester.exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)
    async with running_enterprise_assistant(url, credentials=tenant[1], ssl_context=ea_server.ssl_context()) as ea:
        account = (await requester.exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)).account
    assert account is not None and account.password.reveal() == ea.accounts[0].password


async def test_the_ea_port_serves_nothing_else(ea_server: EaServer) -> None:
    import httpx

    with httpx.Client(verify=ea_server.ssl_context()) as client:
        assert client.get(f"https://127.0.0.1:{ea_server.ea_port}/api/v1/admin/version").status_code == 404
        assert client.get(f"https://127.0.0.1:{ea_server.port}/api/v1/admin/version").status_code == 200


# -- the exchanges, proven on the device ---------------------------------------------------------


@pytest.mark.parametrize("style", [ReplyStyle.CURRENT, ReplyStyle.OLDER])
async def test_eap_tls_certificate_lands_on_the_device(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester, style: ReplyStyle
) -> None:
    device, amt = activated()
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context(), reply_style=style
    ) as ea:
        client, root = await run_eap_tls(requester, amt)
    stored_client, stored_root = device.state.certificate(client), device.state.certificate(root)
    assert stored_client is not None and stored_root is not None and stored_root.trusted_root
    stored_client.certificate.verify_directly_issued_by(ea.ca.root)  # chains to the EA's CA
    assert stored_root.certificate == ea.ca.root
    assert device.state.key_pair_for(stored_client.certificate) is device.state.key_pairs[-1]  # AMT's own key
    # The 802.1X settings reference them (W11, W12).
    links = certificate_link("ServerCertificateIssuer", root) + certificate_link("ClientCertificate", client)
    assert ACCEPTED in amt.call(method("IPS_IEEE8021xSettings", "SetCertificates", links)).body
    assert device.state.ieee8021x_certificates == {"ServerCertificateIssuer": root, "ClientCertificate": client}
    # What the EA received is upstream's wire format (§2).
    assert [message["subaction"] for message in ea.received] == [PROFILE_REQUEST, KEY_PAIR_RESPONSE, CSR_RESPONSE]
    for message in ea.received:
        assert (message["action"], message["satelliteFlags"], message["osname"], message["icon"]) == (
            "satellite",
            2,
            "win11",
            1,
        )
        assert (message["authProtocol"], message["domain"], message["reqid"], message["ver"]) == (0, "", "", "")
    assert len({message["nodeid"] for message in ea.received}) == 1


async def test_peap_account_reaches_the_device_and_no_log(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester
) -> None:
    device, amt = activated()
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context()
    ) as ea:
        account = (await requester.exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)).account
    assert account is not None and account.username == "iME$desktop-01$"
    given = ea.accounts[0].password
    assert account.password.reveal() == given and given not in repr(account)
    settings = (
        "<h:AuthenticationProtocol>2</h:AuthenticationProtocol><h:Enabled>2</h:Enabled>"
        f"<h:Username>{account.username}</h:Username><h:Password>{account.password.reveal()}</h:Password>"
    )
    assert amt.call(put("IPS_IEEE8021xSettings", settings)).status == 200
    assert device.state.ieee8021x.get("Password") == given
    log = ea_server.log_path.read_text(errors="replace")  # the server logs at DEBUG
    assert "Enterprise Assistant connected" in log and given not in log
    assert base64.b64encode(given.encode()).decode() not in log


# -- several EAs; failures end only the request that waits --------------------------------------


async def test_two_eas_one_dies_requests_go_to_the_live_one(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester
) -> None:
    context = ea_server.ssl_context()
    async with (
        running_enterprise_assistant(
            ea_server.url(), credentials=tenant[1], ssl_context=context, reconnect=False
        ) as dying,
        running_enterprise_assistant(ea_server.own_port_url(), credentials=tenant[1], ssl_context=context) as live,
    ):
        await requester.exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)  # both can serve
        await dying.stop()
        served_before = len(live.received)
        for _ in range(4):
            account = (await requester.exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)).account
            assert account is not None
        device, amt = activated()
        await run_eap_tls(requester, amt)
    assert len(live.received) == served_before + 4 + 3
    assert dying.connections == 1 and len(dying.received) + served_before == 1


async def test_a_closed_socket_fails_the_pending_request_at_once(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester
) -> None:
    device, amt = activated()
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context(), reconnect=False
    ) as ea:
        ea.faults.add(EaFault.disconnect(KEY_PAIR_RESPONSE))
        exchange = requester.exchange(timeout=30)
        await exchange.request_profile(auth_protocol=EAP_TLS)
        key_instance_id, der_key = generate_key_pair(amt)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(EnterpriseAssistantDisconnected, match="closed while the request was pending") as failure:
            await exchange.send_key_pair(der_key=der_key, key_instance_id=key_instance_id)
        assert loop.time() - started < 10  # the socket's close, not the 30 s timeout
    assert failure.value.step == KEY_PAIR_RESPONSE


async def test_silence_ends_only_the_request_that_waits(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], requester: Requester
) -> None:
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context()
    ) as ea:
        ea.faults.add(EaFault.silent(PROFILE_REQUEST))  # the first request only
        outcomes = await asyncio.gather(
            requester.exchange(timeout=2).request_profile(auth_protocol=PEAP_MSCHAPV2),
            requester.exchange(timeout=2).request_profile(auth_protocol=PEAP_MSCHAPV2),
            return_exceptions=True,
        )
    timeouts = [outcome for outcome in outcomes if isinstance(outcome, EnterpriseAssistantTimeout)]
    answered = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    assert len(timeouts) == 1 and len(answered) == 1, outcomes
    assert "did not answer within 2 s" in str(timeouts[0])


@pytest.mark.parametrize(
    ("fault", "failure", "cause"),
    [
        (
            EaFault.malformed(KEY_PAIR_RESPONSE, "response.csr"),
            EnterpriseAssistantReplyMalformed,
            "response.csr is missing",
        ),
        (EaFault.malformed(CSR_RESPONSE, "response.rootcert"), EnterpriseAssistantReplyMalformed, "response.rootcert"),
        (
            EaFault.change(KEY_PAIR_RESPONSE, "response.keyInstanceId", "Intel(r) AMT Key: Handle: 9"),
            EnterpriseAssistantReplyMalformed,
            "another key pair",
        ),
        (
            EaFault.wrong_subaction(KEY_PAIR_RESPONSE, "Profile-Completed"),
            EnterpriseAssistantTimeout,
            "'Profile-Completed'",
        ),
        (EaFault.wrong_nodeid(KEY_PAIR_RESPONSE), EnterpriseAssistantTimeout, "did not answer"),
    ],
    ids=["no csr", "no root", "other key pair", "wrong subaction", "wrong nodeid"],
)
async def test_a_bad_reply_gives_a_named_cause(
    ea_server: EaServer,
    tenant: tuple[str, tuple[str, str]],
    requester: Requester,
    fault: EaFault,
    failure: type[Exception],
    cause: str,
) -> None:
    device, amt = activated()
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context()
    ) as ea:
        ea.faults.add(fault)
        with pytest.raises(failure, match=cause):
            await run_eap_tls(requester, amt, timeout=2)
        # The EA connection serves the next exchange as if nothing happened.
        await run_eap_tls(requester, amt)
    assert len(ea.issued) >= 1


async def test_no_ea_of_the_tenant(
    ea_server: EaServer, tenant: tuple[str, tuple[str, str]], layer: RedisChannelLayer
) -> None:
    other = TENANTS[-1]
    async with running_enterprise_assistant(
        ea_server.url(), credentials=tenant[1], ssl_context=ea_server.ssl_context()
    ):
        with pytest.raises(EnterpriseAssistantUnavailable, match=f"tenant '{other}'"):
            await Requester(other, layer).exchange().request_profile(auth_protocol=PEAP_MSCHAPV2)
