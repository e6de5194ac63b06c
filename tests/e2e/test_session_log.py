"""The server's log tells each device session's story in one structured line (rps_site/logs.py)."""

from __future__ import annotations

import json
import re

from amtsim import DeviceIdentity, Fault, VirtualAmtDevice
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique
from tests.e2e.test_ccm_activation import activate

PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
SESSION_FIELDS = {"guid", "tenant", "action", "profile", "outcome", "step", "cause", "duration_ms", "client"}


def events(rps: RpsServer, event: str, **match: str) -> list[dict[str, str]]:
    """The `event` lines of the server log whose fields include `match`, as dictionaries."""
    found = []
    for line in rps.log_text().splitlines():
        head, _, rest = line.partition(f" {event} ")
        if not rest or head.count(" ") != 2:  # "<time> <LEVEL> <logger>"
            continue
        fields = {key: json.loads(value) if value.startswith('"') else value for key, value in PAIR.findall(rest)}
        if all(fields.get(key) == value for key, value in match.items()):
            found.append(fields)
    return found


async def test_an_activation_leaves_one_session_line_with_its_story_and_no_secret(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
    guid = device.identity.uuid.lower()
    result, _ = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message

    [line] = events(rps_server, "device_session", guid=guid)
    assert set(line) == SESSION_FIELDS
    assert line["tenant"] == "-" and line["action"] == "activate" and line["profile"] == profile
    assert line["outcome"] == "success" and line["step"] == "-" and line["cause"] == "-"
    assert line["client"] == "127.0.0.1" and int(line["duration_ms"]) > 0
    stored = rps_server.vault_store().read(device_path(guid))
    assert stored is not None
    assert stored.values["AMT_PASSWORD"].reveal() not in rps_server.log_text()
    # The profile's creation was an API write, logged with who, tenant, resource, action and status.
    [write] = events(rps_server, "api_write", resource="profiles", status="201", action="create")[-1:]
    assert write["who"].startswith("bearer:") and write["tenant"] == "-"


async def test_a_failed_activation_names_the_failing_step_and_its_cause(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    device.faults.add(Fault.soap_fault(call="IPS_HostBasedSetupService.Setup"))
    result, _ = await activate(rps_server, device, profile)
    assert result.exit_code != 0

    [line] = events(rps_server, "device_session", guid=device.identity.uuid.lower())
    assert line["outcome"] == "failure" and line["profile"] == profile
    assert line["step"] not in {"", "-"} and line["cause"] not in {"", "-"}


async def test_a_refused_request_is_one_line_too(rps_server: RpsServer) -> None:
    device = VirtualAmtDevice(DeviceIdentity())
    result, _ = await activate(rps_server, device, "no-such-profile")
    assert result.exit_code != 0
    [line] = events(rps_server, "device_session", guid=device.identity.uuid.lower())
    assert line["outcome"] in {"failure", "refused"}
    assert "no-such-profile" in line["cause"] or "profile" in line["cause"].lower()
