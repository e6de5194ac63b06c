"""The virtual AMT device: firmware state, digest accounts, faults, and the WS-Man pipeline.

``VirtualAmtDevice.answer`` turns one parsed HTTP request into what the firmware does with
it (a 401 challenge, a 200 SOAP answer, a 400 fault, silence, a reset). The socket side
lives in ``http_server``; this module holds no I/O so it can be unit-tested directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from amtsim.device.services import DeviceHangs, ReturnCode, load_all
from amtsim.device.state import ADMIN_USERNAME, ControlMode, DeviceIdentity, FirmwareState
from amtsim.device.wsman import (
    MalformedRequest,
    SoapFault,
    WsmanRequest,
    method_reply,
    parse_request,
    render_fault,
    render_reply,
)
from amtsim.digest import AuthFailure, DigestChallenge, NonceRegistry, digest_ha1, verify_authorization
from amtsim.faults import Fault, FaultKind, FaultPlan

logger = logging.getLogger(__name__)
SERVICE_TABLE = load_all()
UNSAFE_PROLOGUE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">'
    b'<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def wants_close(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class Behaviour(Enum):
    ANSWER = "answer"
    SILENT = "silent"
    RESET = "reset"


@dataclass
class DeviceAnswer:
    """What the firmware does with one request."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/soap+xml; charset=UTF-8"
    challenge: DigestChallenge | None = None
    behaviour: Behaviour = Behaviour.ANSWER
    delay_seconds: float = 0.0
    hold_seconds: float = 0.0
    close: bool = False
    chunked: bool = True


@dataclass(frozen=True)
class CallRecord:
    """One authenticated WS-Man call, for asserting call sequences in tests."""

    call: str
    status: int
    return_value: int | None = None
    fault: FaultKind | None = None


@dataclass
class VirtualAmtDevice:
    identity: DeviceIdentity = field(default_factory=DeviceIdentity)
    state: FirmwareState = field(init=False)
    faults: FaultPlan[Fault] = field(default_factory=FaultPlan[Fault])
    nonces: NonceRegistry = field(default_factory=NonceRegistry)
    enumerations: dict[str, str] = field(default_factory=dict)
    clock_offset_seconds: int = 0
    calls: list[CallRecord] = field(default_factory=list)
    auth_failures: list[AuthFailure] = field(default_factory=list)
    presented_tls_leaves: list[bytes] = field(default_factory=list)  # DER leaf of each TLS session, in order
    tls_configuration_listeners: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = FirmwareState(self.identity)

    @classmethod
    def activated(
        cls, identity: DeviceIdentity | None = None, *, mode: ControlMode = ControlMode.CCM, admin_password: str
    ) -> VirtualAmtDevice:
        """A device that some server already activated with ``admin_password``."""
        device = cls(identity or DeviceIdentity())
        device.state.control_mode = mode
        device.state.admin_password_ha1 = digest_ha1(
            username=ADMIN_USERNAME, realm=device.state.realm, password=admin_password
        )
        return device

    def return_to_pre_provisioning(self) -> None:
        """What Unprovision does, and what a local unprovision does (MEBx "Full Unprovision", a
        CMOS clear, rpc-go's local deactivation): no admin account, factory configuration. The
        server is not told: it finds out when the device asks to be activated again."""
        state = self.state
        state.control_mode = ControlMode.PRE_PROVISIONING
        state.admin_password_ha1 = None
        state.mebx_password = None
        state.pending_chain = []
        state.chain_complete = False
        state.activated_by_chain = []
        state.reset_configuration()
        self.on_tls_configuration_changed()

    @property
    def call_names(self) -> list[str]:
        return [record.call for record in self.calls]

    def on_tls_configuration_changed(self) -> None:
        for listener in self.tls_configuration_listeners:
            listener()

    # -- the request pipeline -------------------------------------------------------------

    def answer(self, request: HttpRequest) -> DeviceAnswer:
        if request.method != "POST" or request.target != "/wsman":
            return DeviceAnswer(status=404, body=b"", content_type="text/html", close=True, chunked=False)
        outcome = verify_authorization(
            header_value=request.headers.get("authorization"),
            method=request.method,
            request_target=request.target,
            realm=self.state.realm,
            accounts=self.state.digest_accounts(),
            nonces=self.nonces,
        )
        if not outcome.ok:
            assert outcome.failure is not None
            self.auth_failures.append(outcome.failure)
            return self._challenge(stale=outcome.failure is AuthFailure.STALE_NONCE)
        try:
            wsman_request = parse_request(request.body)
        except MalformedRequest:
            return self._fault_answer(
                SoapFault.invalid_representation("The request is not a WS-Management envelope."), ""
            )
        fault = self.faults.take(wsman_request.call_name)
        if fault is not None:
            return self._faulty_answer(wsman_request, fault)
        return self._dispatch(wsman_request)

    def _challenge(self, *, stale: bool = False) -> DeviceAnswer:
        challenge = DigestChallenge(realm=self.state.realm, nonce=self.nonces.issue(), stale=stale)
        return DeviceAnswer(
            status=401, body=UNAUTHORIZED_PAGE, content_type="text/html", challenge=challenge, close=True, chunked=False
        )

    def _fault_answer(self, fault: SoapFault, relates_to: str) -> DeviceAnswer:
        return DeviceAnswer(status=400, body=render_fault(fault, relates_to=relates_to), close=True)

    def _dispatch(self, request: WsmanRequest) -> DeviceAnswer:
        try:
            reply = SERVICE_TABLE.dispatch(self, request)
        except SoapFault as fault:
            self.calls.append(CallRecord(call=request.call_name, status=400))
            return self._fault_answer(fault, request.message_id)
        except DeviceHangs as hang:
            logger.info("device %s hangs: %s", self.identity.uuid, hang)
            self.calls.append(CallRecord(call=request.call_name, status=0))
            return DeviceAnswer(behaviour=Behaviour.SILENT, hold_seconds=30.0)
        body = render_reply(request, reply)
        self.calls.append(CallRecord(call=request.call_name, status=200, return_value=_return_value(reply.body)))
        return DeviceAnswer(status=200, body=body)

    def _faulty_answer(self, request: WsmanRequest, fault: Fault) -> DeviceAnswer:
        kind = fault.kind
        if kind is FaultKind.UNAUTHORIZED:
            return self._challenge()
        if kind is FaultKind.SOAP_FAULT:
            self.calls.append(CallRecord(call=request.call_name, status=400, fault=kind))
            return self._fault_answer(SoapFault(fault.subcode, fault.reason), request.message_id)
        if kind is FaultKind.RETURN_VALUE:
            reply = method_reply(request, fault.return_code)
            self.calls.append(CallRecord(request.call_name, 200, fault.return_code, fault=kind))
            return DeviceAnswer(body=render_reply(request, reply))
        if kind is FaultKind.UNSAFE_XML:
            answer = self._dispatch(request)
            self.calls[-1] = CallRecord(request.call_name, answer.status, fault=kind)
            # What an entity-expansion or XXE attempt looks like on the wire.
            answer.body = UNSAFE_PROLOGUE + answer.body.split(b"?>", 1)[-1]
            return answer
        if kind is FaultKind.MALFORMED_XML:
            answer = self._dispatch(request)
            self.calls[-1] = CallRecord(request.call_name, answer.status, fault=kind)
            # Cut the document short: well-formed HTTP, broken XML.
            answer.body = answer.body[: max(1, len(answer.body) // 2)]
            return answer
        answer = self._dispatch(request) if fault.apply_call else DeviceAnswer()
        if not fault.apply_call:
            self.calls.append(CallRecord(call=request.call_name, status=0, fault=kind))
        if kind is FaultKind.SLOW:
            answer.delay_seconds = fault.delay_seconds
        elif kind is FaultKind.SILENT:
            answer.behaviour = Behaviour.SILENT
            answer.hold_seconds = fault.delay_seconds
        elif kind is FaultKind.RESET:
            answer.behaviour = Behaviour.RESET
        return answer

    # -- what rpc-go reads over HECI ------------------------------------------------------

    def heci_report(self) -> dict[str, object]:
        """The facts rpc-go reads from the ME over HECI before it dials a server."""
        identity = self.identity
        return {
            "uuid": identity.uuid,
            "amt_version": identity.amt_version,
            "build": identity.build,
            "sku": identity.sku,
            "features": identity.features,
            "control_mode": int(self.state.control_mode),
            "local_system_account": {"username": "$$OsAdmin", "password": identity.local_system_password}
            if not self.state.is_provisioned
            else None,
            "dns_suffix": identity.dns_suffix,
            "hostname": identity.hostname,
            "trusted_root_hashes": list(identity.trusted_root_hashes),
            "tls_enforced": identity.enforces_tls or self.state.tls_committed,
        }


def _return_value(body: str) -> int | None:
    marker = ":ReturnValue>"
    start = body.find(marker)
    if start < 0:
        return None
    end = body.find("<", start)
    try:
        return int(body[start + len(marker) : end])
    except ValueError:
        return None


UNAUTHORIZED_PAGE = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" ><html lang="en"><head>'
    b'<link rel=stylesheet href=/styles.css><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    b"<title>Intel&reg; Active Management Technology</title></head><body><h1>Intel<sup>&reg;</sup> Active "
    b"Management Technology</h1><h2 class=warn>Log on failed. Incorrect user name or password, or user account "
    b"temporarily locked.</h2></body></html>"
)

__all__ = ["ReturnCode", "VirtualAmtDevice", "HttpRequest", "DeviceAnswer", "Behaviour", "CallRecord"]
