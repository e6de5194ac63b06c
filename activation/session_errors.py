"""What can go wrong in a WS-Man exchange with AMT (protocol.md §3.6, §6.2): every error names
the call, never its content."""

from __future__ import annotations

from typing import Final

from activation.wsman.response import WsmanFault, WsmanParseError


class AmtSessionError(Exception):
    """Base of the session's errors. `failure_text` is what upstream reports for this cause."""

    failure_text: str = "Unknown error has occured"  # [sic], upstream's text (§6.4)

    def __init__(self, call_name: str, detail: str) -> None:
        super().__init__(f"{call_name}: {detail}")
        self.call_name = call_name


class DeviceConnectionReset(Exception):
    """The client reported `connection_reset`: its local AMT connection closed (retryable)."""


class DeviceStoppedAnswering(Exception):
    """A call went unanswered through all its attempts and the client sent nothing at all meanwhile:
    the relay is gone or hung, and every further call would wait as long. Ends the session; it is
    deliberately not an `AmtSessionError`, which configuration steps catch to carry on."""

    def __init__(self, call_name: str, silent_seconds: float) -> None:
        self.call_name = call_name
        self.client_text = (
            f"The device stopped answering at {call_name}: nothing from the client for {silent_seconds:.0f} s"
        )
        super().__init__(self.client_text)


class AmtTimeout(AmtSessionError):
    """No answer within the timeout, on every attempt."""


class NonIdempotentCallUnconfirmed(AmtSessionError):
    """A call that must not be resent was sent once and its answer lost or unreadable: the
    caller must read the device state (e.g. `IPS_HostBasedSetupService.CurrentControlMode`)."""


class NonIdempotentCallTimedOut(NonIdempotentCallUnconfirmed, AmtTimeout):
    """Setup/AdminSetup/UpgradeClientToAdmin got no answer in time (correction 2)."""


class AmtUnauthorized(AmtSessionError):
    failure_text = "Unable to authenticate with AMT"


class AmtHttpError(AmtSessionError):
    """A status other than 200 and 401 without a SOAP fault (e.g. an HTML 400 or a 500)."""

    def __init__(self, call_name: str, status: int, reason: str) -> None:
        super().__init__(call_name, f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        if status == 400:
            self.failure_text = "Bad Request"


class AmtResponseMalformed(AmtSessionError):
    """The bytes back are not an HTTP response (e.g. truncated by rpc-go's 100 ms idle cut)."""


# What one `await amt.call(...)` may raise that ends only the current step: the one tuple every flow
# catches. `UnsafeXml` is not one of them (nor a subclass of one): hostile XML ends the whole session
# (SECURITY.md 10), as `DeviceStoppedAnswering` does.
CALL_ERRORS: Final = (AmtSessionError, WsmanFault, WsmanParseError)
