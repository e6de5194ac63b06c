"""The rpc-go envelope: parsing, upstream's validation order and texts, outbound messages."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activation.protocol.activation_checks import (
    ActivationStart,
    check_acm_prerequisites,
    check_activation_mode,
    domain_suffix_candidates,
    runs_acm_checks,
)
from activation.protocol.command_line import parse_command_line
from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import (
    ClientMethod,
    ConnectionReset,
    DeviceRequest,
    DeviceResponse,
    HeartbeatResponse,
    MaintenanceTask,
    ProtocolError,
)
from activation.protocol.server_messages import (
    error_message,
    heartbeat_request,
    progress_message,
    success_message,
    validation_error_message,
    wsman_message,
)
from activation.protocol.status import (
    ActivationStatus,
    Component,
    ComponentMode,
    ComponentResult,
    ComponentStatus,
    PlainStatus,
)
from devices.models import ControlMode
from profiles.models import ActivationMode

CLIENT_ID = "5f0e2d7a-client"
GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"


def device_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ver": "16.1.27",
        "build": "2176",
        "sku": "16392",
        "features": "AMT Pro Corporate",
        "uuid": GUID,
        "username": "$$OsAdmin",
        "password": "LsaP@ss1",
        "currentMode": 0,
        "hostname": "desktop-01",
        "fqdn": "vprodemo.com",
        "client": "RPC",
        "certHashes": ["E7685634EFACF69ACE939A6B255B7B4FABEF42935B50A265ACB5CB6027E44E70"],
        "ipConfiguration": {
            "dhcp": False,
            "static": False,
            "ipsync": False,
            "ipAddress": "",
            "netmask": "",
            "gateway": "",
            "primaryDns": "",
            "secondaryDns": "",
        },
        "hostnameInfo": {"dnsSuffixOS": "", "hostname": ""},
        "progressSupported": True,
    }
    for key, value in changes.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def envelope(method: str, payload: dict[str, Any] | str | None, **changes: Any) -> str:
    if isinstance(payload, dict):
        payload = base64.b64encode(json.dumps(payload).encode()).decode()
    message = {
        "method": method,
        "apiKey": "key",
        "appVersion": "v2.52.4",
        "protocolVersion": "4.0.0",
        "status": "ok",
        "message": "ok",
        "fqdn": "",
        "payload": payload,
        "tenantId": "",
    }
    message.update(changes)
    return json.dumps(message)


def refusal(text: str) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(text, client_id=CLIENT_ID)
    return caught.value.client_text


def test_activation_request_is_typed() -> None:
    request = parse_client_message(envelope("activate --profile officeCCM", device_payload()), client_id=CLIENT_ID)
    assert isinstance(request, DeviceRequest)
    assert request.action is ClientMethod.ACTIVATE
    assert request.command.profile == "officeCCM"
    assert request.payload.current_mode is ControlMode.PRE_PROVISIONING
    assert request.payload.cert_hashes == ("e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70",)
    assert request.payload.amt_version == 16.1
    assert request.accepts_progress
    assert request.amt_password is not None and request.amt_password.reveal() == "LsaP@ss1"
    assert "LsaP@ss1" not in repr(request)


def test_guid_is_lower_cased_and_byte_array_form_is_converted() -> None:
    upper = parse_client_message(envelope("activate --profile p", device_payload(uuid=GUID.upper())), client_id="c")
    assert isinstance(upper, DeviceRequest) and upper.device_guid == GUID
    raw = list(bytes.fromhex("4445 4c4c 4600 1036 8052 b5c04f4c5032".replace(" ", "")))
    converted = parse_client_message(envelope("activate --profile p", device_payload(uuid=raw)), client_id="c")
    assert isinstance(converted, DeviceRequest) and converted.device_guid == GUID


def test_response_message_carries_raw_http_bytes() -> None:
    raw = b"HTTP/1.1 401 Unauthorized\r\n\r\n"
    message = parse_client_message(envelope("response", base64.b64encode(raw).decode()), client_id=CLIENT_ID)
    assert message == DeviceResponse(http_response=raw)


def test_connection_reset_and_heartbeat_response() -> None:
    reset = parse_client_message(envelope("connection_reset", "Y29ubmVjdGlvbl9jbG9zZWQ="), client_id="c")
    assert reset == ConnectionReset(reason="connection_closed")
    assert parse_client_message(envelope("heartbeat_response", ""), client_id="c") == HeartbeatResponse()


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ("{not json", "SyntaxError: "),
        ("[1, 2]", "SyntaxError: the message is not a JSON object"),
        ('{"method": "activate", "payload": NaN}', "SyntaxError: "),
        ("[" * 100_000, "SyntaxError: "),
    ],
)
def test_envelope_that_is_not_json(frame: str, text: str) -> None:
    assert refusal(frame).startswith(text)


def test_payload_errors_carry_the_error_prefix() -> None:
    bad_json = base64.b64encode(b"{oops").decode()
    assert refusal(envelope("activate --profile p", bad_json)).startswith(
        "Error: Failed to parse client message payload. "
    )
    assert refusal(envelope("activate --profile p", "***")) == (
        "Error: Failed to parse client message payload. payload is not valid base64"
    )
    for missing in ("client", "ver", "build", "uuid"):
        assert refusal(envelope("activate --profile p", device_payload(**{missing: ...}))) == (
            "Error: Invalid payload from client"
        )
    assert refusal(envelope("activate --profile p", device_payload(currentMode="x"))) == (
        f"Device {GUID} activation failed. It is in unknown mode."
    )
    assert refusal(envelope("activate --profile p", device_payload(certHashes=[1]))) == (
        "Error: Invalid payload from client"
    )


@pytest.mark.parametrize("accepted", ["4.0.0", "4.0", "4", None, ""])
def test_compatible_protocol_versions(accepted: str | None) -> None:
    frame = envelope("activate --profile p", device_payload(), protocolVersion=accepted)
    assert isinstance(parse_client_message(frame, client_id="c"), DeviceRequest)


@pytest.mark.parametrize(
    ("version", "text"),
    [
        ("4.0.1", "Error: protocol version NOT supported: 4.0.1"),
        ("4.1.0", "Error: protocol version NOT supported: 4.1.0"),
        ("3.0.0", "Error: protocol version NOT supported: 3.0.0"),
        ("5", "Error: protocol version NOT supported: 5"),
        ("4.0.0.0", "Error: invalid version string length"),
        ("x.0.0", "Error: failed to parse major"),
        ("4.y", "Error: failed to parse minor"),
    ],
)
def test_incompatible_protocol_versions(version: str, text: str) -> None:
    assert refusal(envelope("activate --profile p", device_payload(), protocolVersion=version)) == text


def test_unknown_method_names_the_device() -> None:
    assert refusal(envelope("reboot --now", device_payload())) == (
        f"Device {GUID} Not a supported method received from AMT device"
    )


def test_uuid_checks_in_order() -> None:
    assert (
        refusal(envelope("activate --profile p", device_payload(uuid="abc"))) == f"{CLIENT_ID} - uuid not valid length"
    )
    assert (
        refusal(envelope("activate --profile p", device_payload(uuid=12345))) == f"{CLIENT_ID} - uuid not valid length"
    )
    hostile = "../../devices/aaaaaaaa-aaaa-aaaa-aaa"
    assert len(hostile) == 36
    assert refusal(envelope("activate --profile p", device_payload(uuid=hostile))) == (
        f"{CLIENT_ID} - uuid not valid: not a GUID"
    )
    for placeholder in (
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
    ):
        assert "is a placeholder" in refusal(envelope("activate --profile p", device_payload(uuid=placeholder)))


def test_action_without_payload() -> None:
    assert refusal(envelope("activate --profile p", None)) == f"{CLIENT_ID} - Missing uuid from payload"


@pytest.mark.parametrize(
    ("ver", "build", "text"),
    [
        ("11.0.0", "2999", f"Device {GUID} activation failed. Please check with your OEM for a firmware update."),
        (
            "6.2.10",
            "3000",
            f"Device {GUID} activation failed. AMT version: 6.2.10. Version less than 7 cannot be remotely configured ",
        ),
        (
            "garbage",
            "3000",
            f"Device {GUID} activation failed. AMT version: garbage. "
            "Version less than 7 cannot be remotely configured ",
        ),
    ],
)
def test_amt_version_check(ver: str, build: str, text: str) -> None:
    assert refusal(envelope("activate --profile p", device_payload(ver=ver, build=build))) == text


def test_old_version_with_new_build_passes() -> None:
    frame = envelope("activate --profile p", device_payload(ver="11.0.0", build="3000"))
    assert isinstance(parse_client_message(frame, client_id="c"), DeviceRequest)


def test_activation_needs_a_password() -> None:
    assert refusal(envelope("activate --profile p", device_payload(password=""))) == (
        f"Device {GUID} activation failed. Missing password."
    )


def test_deactivation_checks() -> None:
    assert refusal(envelope("deactivate --password x", device_payload(currentMode=0))) == (
        f"Device {GUID} is in pre-provisioning mode."
    )
    assert refusal(envelope("deactivate --password x", device_payload(currentMode=7))) == (
        f"Device {GUID} deactivation failed. It is in unknown mode: 7."
    )
    assert refusal(envelope("deactivate --password x", device_payload(currentMode=...))) == (
        f"Device {GUID} deactivation failed. It is in unknown mode: undefined."
    )
    # mode is checked before the version in deactivation
    assert "pre-provisioning" in refusal(envelope("deactivate", device_payload(currentMode=0, ver="6.0.0")))
    request = parse_client_message(envelope("deactivate --password x -f", device_payload(currentMode=2)), client_id="c")
    assert isinstance(request, DeviceRequest) and request.command.force


def test_maintenance_checks() -> None:
    assert refusal(envelope("maintenance -password x", device_payload(currentMode=1))) == (
        f"{CLIENT_ID} - missing maintenance task in message"
    )
    assert refusal(envelope("maintenance -password x --synctime", device_payload(currentMode=0))) == (
        f"Device {GUID} is in pre-provisioning mode."
    )
    assert refusal(
        envelope("maintenance -password x --syncip", device_payload(currentMode=1, ipConfiguration=...))
    ) == (f"{CLIENT_ID} - missing ipConfiguration")
    assert refusal(
        envelope("maintenance -password x --synchostname", device_payload(currentMode=1, hostnameInfo=None))
    ) == (f"{CLIENT_ID} - missing HostnameInfo")


def test_maintenance_command_line_as_minimist_reads_it() -> None:
    command = parse_command_line("maintenance -password S3cret! --changepassword N3w!pass -f")
    assert command is not None
    assert command.task is MaintenanceTask.CHANGE_PASSWORD
    # `-password X` is short flags: the password is not taken from the method string
    assert command.password is None
    assert command.task_argument is not None and command.task_argument.reveal() == "N3w!pass"
    assert command.force
    deactivate = parse_command_line("deactivate --password S3cret! -f")
    assert deactivate is not None and deactivate.password is not None
    assert deactivate.password.reveal() == "S3cret!" and deactivate.force
    assert parse_command_line("maintenance -password x --synctime --syncip") is not None
    first = parse_command_line("maintenance -password x --syncip --synctime")
    assert first is not None and first.task is MaintenanceTask.SYNC_TIME  # upstream's fixed precedence
    assert parse_command_line("response") is None


def test_payload_password_wins_over_command_line() -> None:
    frame = envelope("deactivate --password fromCli", device_payload(currentMode=1, password="fromPayload"))
    request = parse_client_message(frame, client_id="c")
    assert isinstance(request, DeviceRequest)
    assert request.amt_password is not None and request.amt_password.reveal() == "fromPayload"


def request_for(mode: int, **changes: Any) -> DeviceRequest:
    request = parse_client_message(
        envelope("activate --profile p", device_payload(currentMode=mode, **changes)), client_id="c"
    )
    assert isinstance(request, DeviceRequest)
    return request


def test_activation_mode_against_profile() -> None:
    assert check_activation_mode(request_for(0), ActivationMode.ACM) is ActivationStart.FROM_PRE_PROVISIONING
    assert check_activation_mode(request_for(1), ActivationMode.ACM) is ActivationStart.UPGRADE_TO_ACM
    assert check_activation_mode(request_for(1), ActivationMode.CCM).preset_status == "already enabled in client mode."
    assert check_activation_mode(request_for(2), ActivationMode.ACM).preset_status == "already enabled in admin mode."
    with pytest.raises(ProtocolError, match="already enabled in admin control mode."):
        check_activation_mode(request_for(2), ActivationMode.CCM)


def test_acm_prerequisites() -> None:
    assert runs_acm_checks(request_for(0), ActivationMode.ACM)
    assert not runs_acm_checks(request_for(0, ver="19.0.1"), ActivationMode.ACM)
    with pytest.raises(ProtocolError, match="Missing certificate hashes from the device."):
        check_acm_prerequisites(request_for(0, certHashes=None))
    check_acm_prerequisites(request_for(0, certHashes=[]))  # an empty list passes, as upstream
    with pytest.raises(ProtocolError, match="Missing DNS Suffix."):
        check_acm_prerequisites(request_for(0, fqdn=""))
    check_acm_prerequisites(request_for(2, fqdn=""))


def test_domain_suffix_candidates_longest_first() -> None:
    assert domain_suffix_candidates("a.b.corp.com") == ["a.b.corp.com", "b.corp.com", "corp.com"]
    assert domain_suffix_candidates("localhost") == []
    assert domain_suffix_candidates("") == []


def test_activation_status_json_for_rpc_go() -> None:
    status = ActivationStatus(status="Client control mode.", network="Wired Network Configured")
    status.components[Component.ACTIVATION] = ComponentStatus(
        ComponentResult.SUCCESS, "Client control mode", ComponentMode.CCM
    )
    message = json.loads(success_message(status))
    assert list(message) == [
        "method",
        "apiKey",
        "appVersion",
        "protocolVersion",
        "status",
        "message",
        "payload",
        "tenantId",
    ]
    assert (message["method"], message["status"], message["payload"]) == ("success", "success", None)
    body = json.loads(message["message"])
    assert list(body) == ["Status", "Components", "Network"]
    assert list(body["Components"]) == [
        "Activation",
        "WiredNetwork",
        "WirelessNetwork",
        "TLS",
        "CIRAProxy",
        "CIRAConnection",
    ]
    assert body["Components"]["Activation"] == {"Result": "Success", "Mode": "CCM", "Details": "Client control mode"}
    assert body["Components"]["CIRAProxy"] == {
        "Result": "NotApplicable",
        "Details": "CIRA proxy not part of this configuration",
    }


def test_error_and_plain_status_messages() -> None:
    message = json.loads(error_message(PlainStatus("Unable to authenticate with AMT")))
    assert (message["method"], message["status"]) == ("error", "failed")
    assert json.loads(message["message"]) == {"Status": "Unable to authenticate with AMT"}
    refused = json.loads(validation_error_message(ProtocolError("Device x is in pre-provisioning mode.")))
    assert refused["message"] == "Device x is in pre-provisioning mode."


def test_wsman_progress_and_heartbeat_messages() -> None:
    wsman = json.loads(wsman_message(b"POST /wsman HTTP/1.1\r\n"))
    assert (wsman["method"], wsman["status"], wsman["message"]) == ("wsman", "ok", "")
    assert base64.b64decode(wsman["payload"]) == b"POST /wsman HTTP/1.1\r\n"
    progress = json.loads(progress_message("Activation completed"))
    assert (progress["method"], progress["message"], progress["payload"]) == ("progress", "Activation completed", None)
    heartbeat = json.loads(heartbeat_request())
    assert (heartbeat["method"], heartbeat["payload"]) == ("heartbeat_request", "")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_frames_raise_only_protocol_error(frame: str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_client_message(frame, client_id="c")


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(
        ["activate --profile p", "deactivate --password x", "maintenance -password x --syncip", "response", "x"]
    )
    | st.text(max_size=30),
    payload=st.dictionaries(
        st.sampled_from(
            ["ver", "build", "uuid", "client", "currentMode", "password", "certHashes", "ipConfiguration", "fqdn"]
        ),
        json_values,
    ),
    overrides=st.dictionaries(st.sampled_from(["protocolVersion", "tenantId", "appVersion"]), json_values),
)
def test_garbage_payloads_raise_only_protocol_error(
    method: str, payload: dict[str, Any], overrides: dict[str, Any]
) -> None:
    base = device_payload()
    base.update(payload)
    with contextlib.suppress(ProtocolError):
        parse_client_message(envelope(method, base, **overrides), client_id="c")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_garbage_base64_payloads_raise_only_protocol_error(data: bytes) -> None:
    for method in ("activate --profile p", "response", "connection_reset"):
        with contextlib.suppress(ProtocolError):
            parse_client_message(envelope(method, base64.b64encode(data).decode()), client_id="c")


@pytest.mark.parametrize(
    ("method", "fields", "switches"),
    [
        ("activate --profile p", {"tlsTunnel": True}, True),
        ("activate --profile p", {"tlsTunnel": "yes"}, False),  # only JSON true asks for the tunnel
        ("activate --profile p", {"tlsTunnel": 1}, False),
        ("activate --profile p", {"tlsTunnel": True, "tlsEnforced": True}, False),  # in the tunnel already
        ("activate --profile p", {"tlsTunnel": True, "currentMode": 1}, False),  # activated: plain path
        ("deactivate", {"tlsTunnel": True, "currentMode": 1}, False),
    ],
)
def test_only_a_pre_provisioning_activation_asking_for_it_switches_to_the_tls_tunnel(
    method: str, fields: dict[str, object], switches: bool
) -> None:
    from tests.activation.flow_fakes import device_request

    assert device_request(method, **fields).switches_to_tls_tunnel is switches
