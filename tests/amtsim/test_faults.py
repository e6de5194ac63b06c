"""Each fault knob, observed from the wire."""

from __future__ import annotations

import asyncio
import time

import pytest
from defusedxml.ElementTree import ParseError, fromstring

from amtsim import ControlMode, Fault, FaultKind, VirtualAmtDevice, serve_device
from amtsim.digest import DigestChallenge, admin_password_hash
from tests.amtsim.rps_double import DirectWsman, get, http_request, method, params

PASSWORD = "Adm1n!Passw0rd"
SETUP_CALL = "IPS_HostBasedSetupService.Setup"


def _setup_request(device: VirtualAmtDevice) -> str:
    password_hash = admin_password_hash(realm=device.state.realm, password=PASSWORD)
    return method(
        "IPS_HostBasedSetupService", "Setup", params(NetAdminPassEncryptionType="2", NetworkAdminPassword=password_hash)
    )


async def _authenticated(device: VirtualAmtDevice, endpoint) -> DirectWsman:  # type: ignore[no-untyped-def]
    rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
    assert (await rps.call(get("AMT_GeneralSettings"))).status == 200
    return rps


async def _raw_round(endpoint, rps: DirectWsman, xml: str, timeout: float) -> bytes | None:  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.http_port)
    try:
        writer.write(http_request(xml, authorization=rps.digest.authorization()))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    except TimeoutError:
        return None
    finally:
        writer.close()


@pytest.mark.parametrize("applied", [False, True])
async def test_silent_fault_sends_nothing(applied: bool) -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.silent(call=SETUP_CALL, hold_seconds=2.0, applied=applied))
    async with serve_device(device) as endpoint:
        rps = await _authenticated(device, endpoint)
        assert await _raw_round(endpoint, rps, _setup_request(device), timeout=0.5) is None
    # applied=True is the lost answer: the firmware acted, the server never heard.
    expected = ControlMode.CCM if applied else ControlMode.PRE_PROVISIONING
    assert device.state.control_mode is expected
    assert [fired.kind for fired in device.faults.fired] == [FaultKind.SILENT]


async def test_reset_fault_resets_the_connection() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.reset(call="AMT_GeneralSettings.Get"))
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        challenge = await rps.send_once(get("AMT_GeneralSettings"))  # the 401 is not a named call
        assert challenge.status == 401
        rps.digest.challenge = DigestChallenge.parse(challenge.headers["www-authenticate"])
        with pytest.raises(ConnectionResetError):
            await _raw_round(endpoint, rps, get("AMT_GeneralSettings"), timeout=2.0)
        # Only once: the next attempt is answered.
        assert (await rps.call(get("AMT_GeneralSettings"))).status == 200


async def test_soap_fault_is_http_400_with_the_subcode() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.soap_fault(call=SETUP_CALL, subcode="e:AlreadyExists", reason="nope"))
    async with serve_device(device) as endpoint:
        rps = await _authenticated(device, endpoint)
        answer = await rps.call(_setup_request(device))
    assert answer.status == 400
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["connection"] == "close"
    assert "AlreadyExists" in answer.find_all("Value")[1]
    assert answer.find("Text") == "nope"
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING


async def test_return_value_fault_changes_nothing() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.return_value(call=SETUP_CALL, value=2057))
    async with serve_device(device) as endpoint:
        rps = await _authenticated(device, endpoint)
        first = await rps.call(_setup_request(device))
        second = await rps.call(_setup_request(device))
    assert first.find("ReturnValue") == "2057"
    assert second.find("ReturnValue") == "0"
    assert device.state.control_mode is ControlMode.CCM


async def test_malformed_xml_fault() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.malformed_xml(call="AMT_GeneralSettings.Get", skip=0))
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        answer = await rps.call(get("AMT_GeneralSettings"))
    assert answer.status == 200
    with pytest.raises(ParseError):
        fromstring(answer.body)


async def test_slow_fault_delays_the_answer() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        rps = await _authenticated(device, endpoint)
        started = time.monotonic()
        assert (await rps.call(get("AMT_GeneralSettings"))).status == 200
        quick = time.monotonic() - started
        device.faults.add(Fault.slow(call="AMT_GeneralSettings.Get", seconds=0.6))
        started = time.monotonic()
        assert (await rps.call(get("AMT_GeneralSettings"))).status == 200
        slow = time.monotonic() - started
    assert slow >= 0.6 > quick


async def test_unauthorized_fault_challenges_a_good_answer() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.unauthorized(call="AMT_GeneralSettings.Get"))
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        challenge = await rps.send_once(get("AMT_GeneralSettings"))
        rps.digest.challenge = DigestChallenge.parse(challenge.headers["www-authenticate"])
        forced = await rps.send_once(get("AMT_GeneralSettings"))
        assert forced.status == 401
        rps.digest.challenge = DigestChallenge.parse(forced.headers["www-authenticate"])
        assert (await rps.send_once(get("AMT_GeneralSettings"))).status == 200
    assert device.faults.fired[0].kind is FaultKind.UNAUTHORIZED
    assert device.call_names == ["AMT_GeneralSettings.Get"]


async def test_skip_and_times() -> None:
    device = VirtualAmtDevice.activated(admin_password=PASSWORD)
    device.faults.add(
        Fault(FaultKind.RETURN_VALUE, call="AMT_RedirectionService.RequestStateChange", skip=1, times=2, return_code=1)
    )
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "admin", PASSWORD)
        request = method("AMT_RedirectionService", "RequestStateChange", params(RequestedState="32771"))
        values = [(await rps.call(request)).find("ReturnValue") for _ in range(4)]
    assert values == ["0", "1", "1", "0"]
