"""One MQTT publisher per process: `publish_event` returns at once and never raises.

Events wait in a bounded queue that one background thread drains into paho-mqtt's client, which
keeps the connection in its own network thread (reconnecting every few seconds, as upstream's
does every second). While the broker is away the queue fills; when it is full the oldest event
is dropped and `rps_mqtt_events_dropped_total` counts it (upstream's queue has no bound). Nothing
a request or a device session does ever waits for the broker. Events are QoS 0, not retained
(events.md §3): what the queue holds when the process stops is lost, as upstream's.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets as random_source
import threading

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from events.config import MqttSettings
from events.payload import TOPIC, event_payload
from metrics.registry import MQTT_EVENTS_DROPPED, MQTT_EVENTS_PUBLISHED

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 60
RECONNECT_DELAY = (1, 5)  # seconds, the first retry and the longest wait between retries
RETRY_PUBLISH_SECONDS = 0.2


class EventPublisher:
    def __init__(self, config: MqttSettings) -> None:
        self.config = config
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=config.queue_size)
        self._connected = threading.Event()
        # A unique id per process: a broker drops the older of two clients with the same id.
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"rps-{os.getpid()}-{random_source.token_hex(4)}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if config.username or config.password is not None:
            password = config.password.reveal() if config.password is not None else None
            self._client.username_pw_set(config.username, password)
        if config.tls:
            self._client.tls_set(ca_certs=config.ca_file or None)
        self._client.reconnect_delay_set(*RECONNECT_DELAY)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._drainer = threading.Thread(target=self._drain, name="rps-mqtt-events", daemon=True)

    def start(self) -> None:
        self._client.connect_async(self.config.host, self.config.port, keepalive=KEEPALIVE_SECONDS)
        self._client.loop_start()  # retries the first connection too
        self._drainer.start()

    def stop(self) -> None:
        """Disconnect; what the queue still holds is dropped (tests, process exit)."""
        self._client.disconnect()
        self._client.loop_stop()

    def offer(self, payload: bytes) -> None:
        """Queue one event; when the queue is full, the oldest makes room and is counted."""
        while True:
            try:
                self._queue.put_nowait(payload)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    continue
                MQTT_EVENTS_DROPPED.inc()

    def _drain(self) -> None:
        while True:
            payload = self._queue.get()
            while True:
                self._connected.wait()
                if self._client.publish(TOPIC, payload, qos=0, retain=False).rc == mqtt.MQTT_ERR_SUCCESS:
                    MQTT_EVENTS_PUBLISHED.inc()
                    break
                # The connection went between the check and the send: the same event, once back.
                self._connected.wait(RETRY_PUBLISH_SECONDS)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            logger.warning("the MQTT broker refused the connection: %s", reason)
            return
        logger.info("connected to the MQTT broker %s:%s", self.config.host, self.config.port)
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if self._connected.is_set():
            logger.warning(
                "lost the MQTT broker %s:%s (%s); events queue until it is back",
                self.config.host,
                self.config.port,
                reason,
            )
        self._connected.clear()


_starting = threading.Lock()
_publishers: dict[MqttSettings, EventPublisher] = {}


def _process_publisher(config: MqttSettings) -> EventPublisher:
    with _starting:
        publisher = _publishers.get(config)
        if publisher is None:
            publisher = _publishers[config] = EventPublisher(config)
            publisher.start()
        return publisher


def stop_publishers() -> None:
    with _starting:
        for publisher in _publishers.values():
            publisher.stop()
        _publishers.clear()


def publish_event(kind: str, message: str, methods: list[str], guid: str | None = None) -> None:
    """Send an event to `rps/events` when MQTT is on (`RPS_MQTT_URL`); never blocks, never raises."""
    config: MqttSettings | None = settings.MQTT
    if config is None:
        return
    try:
        _process_publisher(config).offer(event_payload(kind, message, methods, guid))
    except Exception:
        logger.exception("an MQTT event could not be queued")
