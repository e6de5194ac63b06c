"""Every Prometheus metric the server exports, in one place (README "Metrics" lists them for
dashboards and alerts). Labels are bounded sets chosen by the server: an action, an outcome, a
step or WS-Man call name, a URL pattern, a status code, a cause. Never a secret, a GUID, a host
name, a tenant or a raw path.

With several workers, `PROMETHEUS_MULTIPROC_DIR` switches prometheus-client to its multiprocess
mode (metrics.multiprocess): each worker writes its samples to files there and a scrape of any
worker sums them all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from metrics.multiprocess import ensure_directory

ensure_directory()  # before the first metric: in multiprocess mode each writes a file there at once

SESSION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

DEVICE_SESSIONS = Counter("rps_device_sessions", "Device sessions ended, by action and outcome", ["action", "outcome"])
DEVICE_SESSION_DURATION = Histogram(
    "rps_device_session_duration_seconds",
    "Device session duration, request to end, by action and outcome",
    ["action", "outcome"],
    buckets=SESSION_BUCKETS,
)
DEVICE_STEP_DURATION = Histogram(
    "rps_device_step_duration_seconds",
    "Time from the previous step's end (or the session's start) to a step's end, by step and outcome",
    ["step", "outcome"],
    buckets=STEP_BUCKETS,
)
DEVICE_SOCKETS_OPEN = Gauge("rps_device_sockets_open", "Device WebSockets open now", multiprocess_mode="livesum")
DEVICE_CONNECTIONS_REFUSED = Counter(
    "rps_device_connections_refused", "Device connections refused before a session, by cause", ["cause"]
)
WSMAN_ROUND_TRIP = Histogram(
    "rps_wsman_round_trip_seconds",
    "A WS-Man request relayed to the device until its answer, by call",
    ["call"],
    buckets=CALL_BUCKETS,
)
DEPENDENCY_CALL_DURATION = Histogram(
    "rps_dependency_call_duration_seconds",
    "Calls to Vault and MPS, by service and operation, failures included",
    ["service", "operation"],
    buckets=CALL_BUCKETS,
)
DEPENDENCY_CALL_ERRORS = Counter(
    "rps_dependency_call_errors",
    "Failed calls to Vault and MPS, by service, operation and error",
    ["service", "operation", "error"],
)
HTTP_REQUESTS = Counter(
    "rps_http_requests", "HTTP requests answered, by URL pattern, method and status", ["route", "method", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "rps_http_request_duration_seconds",
    "HTTP request duration in the application, by URL pattern and method",
    ["route", "method"],
    buckets=CALL_BUCKETS,
)
MQTT_EVENTS_PUBLISHED = Counter("rps_mqtt_events_published", "MQTT events handed to the broker")
MQTT_EVENTS_DROPPED = Counter(
    "rps_mqtt_events_dropped", "MQTT events dropped: the queue was full (broker down or slow)"
)


def dependency_call_failed(service: str, operation: str, error: str) -> None:
    DEPENDENCY_CALL_ERRORS.labels(service, operation, error).inc()


@contextmanager
def dependency_call(service: str, operation: str) -> Iterator[None]:
    """Time a call to Vault or MPS; an exception out of it counts as an error named by its class."""
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        dependency_call_failed(service, operation, type(error).__name__)
        raise
    finally:
        DEPENDENCY_CALL_DURATION.labels(service, operation).observe(time.monotonic() - started)
