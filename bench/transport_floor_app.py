"""The server side of `bench/transport_floor.py`: an activation's frames and nothing else."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import django

django.setup()  # the project's settings (bench/transport_floor.py sets the environment)

from activation.consumers import DeviceConsumer  # noqa: E402

EXCHANGES = int(os.environ.get("FLOOR_EXCHANGES", "38"))
REQUEST_BYTES = 1500  # a WS-Man request before base64 (about 2 KB on the wire)


def server_frame(method: str, payload: str) -> str:
    return json.dumps(
        {
            "method": method,
            "apiKey": "key",
            "appVersion": "2.40.0",
            "protocolVersion": "4.0.0",
            "status": "ok",
            "message": "",
            "payload": payload,
            "tenantId": "",
        },
        separators=(",", ":"),
    )


WSMAN_FRAME = server_frame("wsman", base64.b64encode(os.urandom(REQUEST_BYTES)).decode())
TERMINAL_FRAME = server_frame("success", "")


class FloorConsumer(DeviceConsumer):
    """The device consumer's own receive loop and send path, with the session replaced by a
    fixed exchange of frames."""

    async def connect(self) -> None:
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self.exchange_all())
        else:
            self.answers.put_nowait(text_data or "")

    async def exchange_all(self) -> None:
        for _ in range(EXCHANGES):
            await self.send(text_data=WSMAN_FRAME)
            json.loads(await self.answers.get())
        await self.send(text_data=TERMINAL_FRAME)

    async def disconnect(self, code: int) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


application: Any = FloorConsumer.as_asgi()
