"""Who may open a device socket: the transport rule, the per-address rate and the socket cap."""

from __future__ import annotations

import pytest

from activation.admission import ConnectionRateLimiter, InProcessAdmission, OpenSockets, insecure_transport

TLS = {"extensions": {"tls": {}}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_per_address_and_per_minute() -> None:
    clock = Clock()
    limiter = ConnectionRateLimiter(clock=clock)
    assert [limiter.allow("10.0.0.1", limit=10) for _ in range(11)] == [True] * 10 + [False]
    assert limiter.allow("10.0.0.2", limit=10)
    # The previous minute weighs in as much as the sliding minute still covers it: 90 %, then 25 %.
    clock.now += 66
    assert [limiter.allow("10.0.0.1", limit=10) for _ in range(2)] == [True, False]
    clock.now += 39
    assert [limiter.allow("10.0.0.1", limit=10) for _ in range(8)] == [True] * 7 + [False]


def test_the_limiter_forgets_addresses_whose_window_has_passed() -> None:
    clock = Clock()
    limiter = ConnectionRateLimiter(clock=clock)
    for number in range(5000):
        assert limiter.allow(f"10.0.{number // 256}.{number % 256}", limit=10)
    assert limiter.tracked_addresses() == 5000
    clock.now += 60
    limiter.allow("192.0.2.1", limit=10)
    assert limiter.tracked_addresses() == 5001  # the previous minute still counts
    clock.now += 60
    limiter.allow("192.0.2.1", limit=10)
    assert limiter.tracked_addresses() == 1
    clock.now += 600
    limiter.allow("192.0.2.2", limit=10)
    assert limiter.tracked_addresses() == 1


def test_open_sockets_are_capped_per_address_and_released() -> None:
    sockets = OpenSockets()
    assert [sockets.open("10.0.0.1", limit=2) for _ in range(3)] == [True, True, False]
    assert sockets.open("10.0.0.2", limit=2)
    sockets.close("10.0.0.1")
    assert sockets.open("10.0.0.1", limit=2)
    for _ in range(2):
        sockets.close("10.0.0.1")
    sockets.close("10.0.0.2")
    assert sockets.count("10.0.0.1") == sockets.count("10.0.0.2") == 0
    assert sockets._open == {}  # nothing held for addresses with no socket


async def test_admission_names_the_limit_it_refuses_with(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_CONNECTIONS_PER_MINUTE = 100
    settings.DEVICE_SOCKETS_PER_ADDRESS = 1
    limits = InProcessAdmission()
    assert await limits.admit("10.0.0.1") is None
    assert await limits.admit("10.0.0.1") == "too many open device connections from this address (at most 1 at once)"
    await limits.release("10.0.0.1")
    assert await limits.admit("10.0.0.1") is None
    settings.DEVICE_CONNECTIONS_PER_MINUTE = 3
    assert await limits.admit("10.0.0.1") == "too many device connections from this address (at most 3 a minute)"


def headers(*pairs: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": list(pairs)}


@pytest.mark.parametrize(
    ("debug", "trust_proxy", "scope", "allowed"),
    [
        (False, False, TLS, True),
        (False, False, {}, False),
        (False, False, {"scheme": "wss"}, False),  # a scope key the server never sets proves nothing
        (False, False, headers((b"x-forwarded-proto", b"https")), False),  # proxy not trusted
        (False, True, headers((b"x-forwarded-proto", b"https")), True),
        (False, True, headers((b"x-forwarded-proto", b"HTTPS, http")), True),  # the first value, as Django
        (False, True, headers((b"x-forwarded-proto", b"ws")), False),
        (False, True, headers((b"x-forwarded-proto", b"wss")), False),
        (False, True, headers((b"x-forwarded-proto", b"http, https")), False),
        (False, True, {}, False),
        (True, False, {}, True),  # debug: plain ws:// for development
    ],
)
def test_plain_transport_is_refused_outside_debug(settings, debug, trust_proxy, scope, allowed) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = debug
    settings.TRUST_PROXY_SSL_HEADER = trust_proxy
    refusal = insecure_transport(scope)
    assert (refusal is None) is allowed
    if not allowed:
        assert refusal == "device connections need TLS (wss://)"
