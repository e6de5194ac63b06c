"""A real mosquitto broker (Debian's /usr/sbin/mosquitto) on a free loopback port, with a config
of its own, and a subscriber that records what `rps/events` carries."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from rps_site.openbao_dev import free_port

MOSQUITTO = "/usr/sbin/mosquitto"


class Mosquitto:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.config = work / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
        )
        self.log = work / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start:\n" + self.log.read_text(errors="replace"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def running_mosquitto(work: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(work)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Subscriber:
    """Records every `rps/events` message, decoded, in arrival order."""

    def __init__(self, port: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        self.client.on_connect = lambda client, *rest: client.subscribe("rps/events", qos=0)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the test subscriber could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.raw.append(message.payload)
            self.messages.append(json.loads(message.payload))
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The first `count` messages (fewer if they do not come within `timeout`)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages[:count])

    def wait_until(self, arrived: Callable[[list[dict[str, Any]]], bool], timeout: float = 15) -> list[dict[str, Any]]:
        """Every message so far, once `arrived(messages)` holds (or `timeout` passed)."""
        with self._arrived:
            self._arrived.wait_for(lambda: arrived(self.messages), timeout)
            return list(self.messages)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
