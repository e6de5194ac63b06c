"""What the activation flows call: one device's exchange with a live Enterprise Assistant.

    exchange = EnterpriseAssistantExchange(tenant_id=tenant, device_name=hostname)
    profile = await exchange.request_profile(auth_protocol=EAP_TLS)       # §2.2
    template = await exchange.send_key_pair(der_key=..., key_instance_id=...)   # §2.3
    issued = await exchange.send_csr_response(signed_csr=...)              # §2.4

Each call ends in a typed result or an `EnterpriseAssistantFailure` naming its cause; nothing an
EA does (silence, a malformed or mismatched reply, a dropped socket) affects anything but the call
that is waiting. The request travels through the channel layer (see `layer`), so the EA may be
connected to another worker process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from activation.enterprise_assistant import layer as routing
from activation.enterprise_assistant import messages
from activation.enterprise_assistant.errors import (
    EnterpriseAssistantDisconnected,
    EnterpriseAssistantProtocolUnsupported,
    EnterpriseAssistantTimeout,
    EnterpriseAssistantUnavailable,
)
from activation.enterprise_assistant.messages import (
    EAP_TLS,
    SERVED_PROTOCOLS,
    CertificateRequestTemplate,
    IssuedCertificate,
    ProfileReply,
    shown,
)

logger = logging.getLogger(__name__)

# How long a live EA connection gets to answer an offer and to take the request. Only an absent
# EA costs this wait, so it is generous: a worker busy with hundreds of sessions must not look dead.
ROUTING_TIMEOUT = 3.0


class EnterpriseAssistantExchange:
    """One certificate or account request for one device: the profile request, then (EAP-TLS and
    TLS) the key pair and the signed CSR, in that order, one at a time.

    Each exchange has a fresh `nodeid` (upstream uses one per rpc-go connection): the EA keys its
    replies by it, so an answer that belongs to an earlier exchange of the same device (late, or
    a duplicate) cannot satisfy this one; within the exchange the reply's subaction must fit.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        device_name: str | None,
        timeout: float | None = None,
        channel_layer: BaseChannelLayer | None = None,
        routing_timeout: float = ROUTING_TIMEOUT,
    ) -> None:
        self.tenant_id = tenant_id
        self.device_name = device_name
        self.node_id = str(uuid.uuid4())
        self.timeout: float = settings.EA_TIMEOUT if timeout is None else timeout
        self.routing_timeout = routing_timeout
        self._channel_layer = channel_layer
        self._expected: frozenset[str] = frozenset({messages.PROFILE_REQUEST})
        self._public_key: rsa.RSAPublicKey | None = None  # AMT's, from the key pair step

    async def request_profile(self, *, auth_protocol: int) -> ProfileReply:
        """§2.2. PEAP-MSCHAPv2: the AD account and the RADIUS root. EAP-TLS (and TLS, which
        sends 0): nothing yet, `send_key_pair` comes next."""
        step = messages.PROFILE_REQUEST
        if auth_protocol not in SERVED_PROTOCOLS:
            raise EnterpriseAssistantProtocolUnsupported(
                step, f"802.1X protocol {auth_protocol} is not one the Enterprise Assistant serves (EAP-TLS, PEAP)"
            )
        self._begin(step)
        message = messages.profile_request(
            node_id=self.node_id, auth_protocol=auth_protocol, device_name=self.device_name
        )
        reply = messages.parse_profile_reply(await self._request(step, message), auth_protocol=auth_protocol)
        self._expected = frozenset({messages.KEY_PAIR_RESPONSE} if auth_protocol == EAP_TLS else ())
        return reply

    async def send_key_pair(self, *, der_key: str, key_instance_id: str) -> CertificateRequestTemplate:
        """§2.3: AMT's new public key (`DERKey`, PKCS#1) → the CSR template AMT must sign.
        A `der_key` that is not an RSA public key raises ValueError before anything is sent."""
        step = messages.KEY_PAIR_RESPONSE
        public_key = messages.rsa_public_key_from_der_key(der_key)
        self._begin(step)
        message = messages.key_pair_response(
            node_id=self.node_id, device_name=self.device_name, der_key=der_key, key_instance_id=key_instance_id
        )
        template = messages.parse_csr_request(
            await self._request(step, message), public_key=public_key, key_instance_id=key_instance_id
        )
        self._public_key = public_key
        self._expected = frozenset({messages.CSR_RESPONSE})
        return template

    async def send_csr_response(self, *, signed_csr: str) -> IssuedCertificate:
        """§2.4: the CSR AMT signed → the certificate the CA issued for AMT's key, and its root."""
        step = messages.CSR_RESPONSE
        self._begin(step)
        assert self._public_key is not None  # _begin checked the order
        message = messages.csr_response(node_id=self.node_id, device_name=self.device_name, signed_csr=signed_csr)
        issued = messages.parse_issued_certificate(await self._request(step, message), public_key=self._public_key)
        self._expected = frozenset()
        return issued

    def _begin(self, step: str) -> None:
        if step not in self._expected:
            raise RuntimeError(f"{step} is out of order in this Enterprise Assistant exchange")
        # One request at a time; a failed step ends the exchange (the EA's state is unknown).
        self._expected = frozenset()

    # -- routing ---------------------------------------------------------------------------

    async def _request(self, step: str, message: dict[str, Any]) -> dict[str, Any]:
        layer = self._channel_layer or get_channel_layer()
        if layer is None:
            raise EnterpriseAssistantUnavailable(step, "no channel layer is configured")
        reply_channel = await layer.new_channel()
        assistant = await self._find_assistant(layer, reply_channel, step)
        request = {
            "type": routing.REQUEST,
            "reply_channel": reply_channel,
            "nodeid": self.node_id,
            "subaction": step,
            "frame": messages.encode(message),
        }
        try:
            await layer.send(assistant, request)
            await self._taken_by(layer, reply_channel, assistant, step)
            frame = await self._reply_from(layer, reply_channel, assistant, step)
        except BaseException:
            # Timed out, cancelled with the session, or the EA went away: make the EA forget the
            # request, so that a late answer is dropped there rather than sent anywhere.
            await self._cancel(layer, assistant, reply_channel)
            raise
        logger.debug("Enterprise Assistant answered %s for node %s", step, self.node_id)
        return frame

    async def _find_assistant(self, layer: BaseChannelLayer, reply_channel: str, step: str) -> str:
        await layer.group_send(
            routing.assistant_group(self.tenant_id), {"type": routing.OFFER, "reply_channel": reply_channel}
        )
        event = await self._receive(
            layer, reply_channel, self.routing_timeout, lambda e: e["type"] == routing.AVAILABLE
        )
        if event is None:
            raise EnterpriseAssistantUnavailable(
                step, f"no Enterprise Assistant is connected for tenant {shown(self.tenant_id)}"
            )
        return str(event["assistant"])

    async def _taken_by(self, layer: BaseChannelLayer, reply_channel: str, assistant: str, step: str) -> None:
        event = await self._receive(
            layer,
            reply_channel,
            self.routing_timeout,
            lambda e: e["type"] in (routing.ACCEPTED, routing.LOST) and e["assistant"] == assistant,
        )
        if event is None or event["type"] == routing.LOST:
            # Closed between its offer and the request: no byte reached an EA.
            raise EnterpriseAssistantUnavailable(step, "the Enterprise Assistant went away before it took the request")

    async def _reply_from(
        self, layer: BaseChannelLayer, reply_channel: str, assistant: str, step: str
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + self.timeout
        dropped: list[str] = []
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            event = await self._receive(layer, reply_channel, remaining, lambda e: e["assistant"] == assistant)
            if event is None:
                cause = f"the Enterprise Assistant did not answer within {self.timeout:g} s"
                if dropped:
                    cause += f" (it sent {len(dropped)} reply of another kind, subaction {dropped[-1]})"
                raise EnterpriseAssistantTimeout(step, cause)
            if event["type"] == routing.REPLY:
                reply: dict[str, Any] = json.loads(event["frame"])  # the EA connection parsed it once already
                return reply
            if event["type"] == routing.LOST:
                raise EnterpriseAssistantDisconnected(
                    step, "the Enterprise Assistant's connection closed while the request was pending"
                )
            if event["type"] == routing.DROPPED:
                dropped.append(str(event["subaction"]))

    @staticmethod
    async def _receive(
        layer: BaseChannelLayer, channel: str, seconds: float, wanted: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The next event on `channel` that `wanted` accepts, or None after `seconds`."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            try:
                event = await asyncio.wait_for(layer.receive(channel), remaining)
            except TimeoutError:
                return None
            if wanted(event):
                return dict(event)

    async def _cancel(self, layer: BaseChannelLayer, assistant: str, reply_channel: str) -> None:
        try:
            await layer.send(
                assistant, {"type": routing.CANCEL, "nodeid": self.node_id, "reply_channel": reply_channel}
            )
        except Exception:  # the layer itself failing must not hide why the request ended
            logger.warning("could not cancel an Enterprise Assistant request for node %s", self.node_id)
