"""The device channel's own counts: sockets open, connections refused before any session."""

from __future__ import annotations

from metrics.registry import DEVICE_CONNECTIONS_REFUSED, DEVICE_SOCKETS_OPEN

# origin | plain_transport | rate_limit | sockets_per_address
REFUSAL_CAUSES = ("origin", "plain_transport", "rate_limit", "sockets_per_address")


def socket_opened() -> None:
    DEVICE_SOCKETS_OPEN.inc()


def socket_closed() -> None:
    DEVICE_SOCKETS_OPEN.dec()


def connection_refused(cause: str) -> None:
    DEVICE_CONNECTIONS_REFUSED.labels(cause if cause in REFUSAL_CAUSES else "other").inc()
