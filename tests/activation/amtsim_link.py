"""An in-process `DeviceTransport` to an amtsim virtual device: the flows' HTTP bytes go to
`VirtualAmtDevice.answer` and come back framed as AMT frames them, with no sockets or rpc-go."""

from __future__ import annotations

from dataclasses import dataclass, field

from activation.amt_http import dechunk
from activation.session import AmtSession
from amtsim import VirtualAmtDevice
from amtsim.device.device import Behaviour, HttpRequest
from amtsim.device.http_server import encode_answer
from rps_site.sensitive import Secret


@dataclass
class InProcessDevice:
    device: VirtualAmtDevice
    sent: list[bytes] = field(default_factory=list)

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        self.sent.append(http_request)
        head, _, rest = http_request.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = dechunk(rest) if "chunked" in headers.get("transfer-encoding", "") else rest
        answer = self.device.answer(HttpRequest(method=method, target=target, headers=headers, body=body))
        if answer.behaviour is not Behaviour.ANSWER:
            raise TimeoutError
        return encode_answer(answer, amt_version=self.device.identity.amt_version)


def admin_session(device: VirtualAmtDevice, password: str) -> tuple[AmtSession, InProcessDevice]:
    link = InProcessDevice(device)

    async def no_sleep(_: float) -> None:
        return None

    session = AmtSession(
        link,
        device_guid=device.identity.uuid,
        username="admin",
        password=Secret(password),
        wsman_timeout=1,
        retry_delay=0,
        sleep=no_sleep,
    )
    return session, link
