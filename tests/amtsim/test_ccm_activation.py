"""The device over real sockets: the 401 challenge, chunked answers, and CCM activation (§4.1)."""

from __future__ import annotations

import re

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, serve_device
from amtsim.digest import admin_password_hash
from tests.amtsim.rps_double import DirectWsman, exchange, get, http_request, method, params, parse_http_answer

GENERAL_SETTINGS_GET = get("AMT_GeneralSettings")


async def test_first_request_gets_amt_style_401() -> None:
    device = VirtualAmtDevice(DeviceIdentity(amt_version="15.0.23", build="1706"))
    async with serve_device(device) as endpoint:
        raw = await exchange(endpoint.host, endpoint.http_port, http_request(GENERAL_SETTINGS_GET, authorization=None))
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 401 Unauthorized"
    assert re.fullmatch(
        r'WWW-Authenticate: Digest realm="Digest:[0-9A-F]{32}", nonce="[A-Za-z0-9+/]{32}",stale="false",qop="auth"',
        lines[1],
    )
    assert "Server: Intel(R) Active Management Technology 15.0.23" in lines
    assert "Connection: close" in lines
    answer = parse_http_answer(raw)
    assert int(answer.headers["content-length"]) == len(answer.body)
    assert device.state.realm in lines[1]


async def test_authenticated_get_is_chunked_and_carries_realm() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        client = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        answer = await client.call(GENERAL_SETTINGS_GET)
    assert answer.status == 200
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["content-type"] == "application/soap+xml; charset=UTF-8"
    assert "content-length" not in answer.headers
    assert "connection" not in answer.headers  # AMT closes without announcing it on a 200
    assert answer.raw.endswith(b"\r\n0\r\n\r\n")
    assert answer.find("DigestRealm") == device.state.realm
    assert answer.find("RelatesTo") is not None


async def test_wrong_lsa_password_is_challenged_again() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        client = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", "not-the-password")
        answer = await client.call(GENERAL_SETTINGS_GET)
    assert answer.status == 401
    assert device.calls == []


def _setup(password_hash: str) -> str:
    return method(
        "IPS_HostBasedSetupService",
        "Setup",
        params(NetAdminPassEncryptionType="2", NetworkAdminPassword=password_hash),
    )


async def test_ccm_activation_sequence() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        settings = await rps.call(GENERAL_SETTINGS_GET)
        realm = settings.find("DigestRealm")
        assert realm and re.fullmatch(r"Digest:[0-9A-Fa-f]{32}", realm)
        setup = await rps.call(_setup(admin_password_hash(realm=realm, password="Str0ng!Passw0rd")))
        assert setup.status == 200
        assert setup.find("ReturnValue") == "0"
        assert device.state.control_mode is ControlMode.CCM
        assert device.state.admin_password_matches("Str0ng!Passw0rd")

        # The local system account is dead after activation; admin works with the same challenge.
        assert (await rps.send_once(GENERAL_SETTINGS_GET)).status == 401
        rps.switch_credentials("admin", "Str0ng!Passw0rd")
        assert (await rps.call(GENERAL_SETTINGS_GET)).status == 200
        rps.switch_credentials("admin", "wrong")
        assert (await rps.send_once(GENERAL_SETTINGS_GET)).status == 401
    assert device.call_names == [
        "AMT_GeneralSettings.Get",
        "IPS_HostBasedSetupService.Setup",
        "AMT_GeneralSettings.Get",
    ]


async def test_setup_refuses_a_password_that_is_not_an_md5_hex() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        answer = await rps.call(_setup("Str0ng!Passw0rd"))
    assert answer.status == 200
    assert answer.find("ReturnValue") != "0"
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING


async def test_setup_hash_must_use_the_device_realm() -> None:
    """A server that hashes with the wrong realm activates the device, but can never log on."""
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        wrong_realm_hash = admin_password_hash(realm="Digest:00000000000000000000000000000000", password="P@ssw0rd1")
        assert (await rps.call(_setup(wrong_realm_hash))).find("ReturnValue") == "0"
        rps.switch_credentials("admin", "P@ssw0rd1")
        assert (await rps.send_once(GENERAL_SETTINGS_GET)).status == 401
    assert not device.state.admin_password_matches("P@ssw0rd1")


async def test_second_setup_is_refused_with_invalid_mode() -> None:
    device = VirtualAmtDevice.activated(admin_password="P@ssw0rd1")
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "admin", "P@ssw0rd1")
        answer = await rps.call(_setup(admin_password_hash(realm=device.state.realm, password="Other1!pass")))
    assert answer.find("ReturnValue") == "3"
    assert device.state.admin_password_matches("P@ssw0rd1")


async def test_lsa_account_cannot_configure_before_activation() -> None:
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint:
        rps = DirectWsman(endpoint.host, endpoint.http_port, "$$OsAdmin", device.identity.local_system_password)
        answer = await rps.call(get("AMT_RedirectionService"))
    assert answer.status == 400
    assert answer.find("Value") is not None and "AccessDenied" in answer.find_all("Value")[1]
