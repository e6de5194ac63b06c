"""The README's and amtsim/README.md's demos, run exactly as written against a running quick start.

Each ```sh block of the demo sections runs as pasted (one block, one shell, `bash -e`) from a
directory that looks like a clone: `.venv` and `amtsim` from this checkout, `var/` the quick start's
own. The quick start gets a free port and `RPS_DELAY_TIMER=0` (AMT's settle pause would only
slow the test); the blocks read `RPS_PORT` and `AMTSIM_PORT` as their text says.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.quickstart_process import running_quickstart

ROOT = Path(__file__).resolve().parents[2]
DEMO_SECTIONS = [("README.md", "## Try it without hardware: amtsim"), ("amtsim/README.md", "## Copy-paste demo")]


def shell_blocks(path: str, heading: str) -> list[str]:
    section = (ROOT / path).read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


def free_port_pair() -> int:
    """A port P with P+1 free too (amtsim devices listen on P for HTTP and P+1 for TLS)."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return int(port)


def demo_environment(rps_port: int) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("RPS_", "AMTSIM_"))}
    return {**environment, "RPS_PORT": str(rps_port), "AMTSIM_PORT": str(free_port_pair())}


def run_block(block: str, cwd: Path, environment: dict[str, str], output: Path) -> tuple[int, str, str]:
    """One block in its own shell and session, as pasted; whatever it leaves running (a device it
    did not get to `kill %1` when a step failed) is stopped with it."""
    output.mkdir()
    with open(output / "stdout", "w") as stdout, open(output / "stderr", "w") as stderr:
        shell = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = shell.wait(timeout=240)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
            shell.wait()
    return code, (output / "stdout").read_text(), (output / "stderr").read_text()


def test_the_demos_run_as_written(tmp_path: Path) -> None:
    checkout = tmp_path / "clone"
    checkout.mkdir()
    for name in (".venv", "amtsim"):
        (checkout / name).symlink_to(ROOT / name)
    blocks = [block for path, heading in DEMO_SECTIONS for block in shell_blocks(path, heading)]
    assert len(blocks) == 4, "README: one demo; amtsim/README.md: CCM, ACM, load"

    outputs = []
    with running_quickstart(checkout / "var", RPS_DELAY_TIMER="0") as quickstart:
        for number, block in enumerate(blocks):
            code, stdout, stderr = run_block(block, checkout, demo_environment(quickstart.port), tmp_path / str(number))
            assert code == 0, f"{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
            assert "Traceback" not in stderr, stderr
            outputs.append(stdout)

    readme, ccm, acm, load = outputs
    assert '"Status": "Client control mode."' in readme
    assert '"hostname":"amtsim-0000"' in readme.replace(" ", ""), "the registry lists the device"
    assert '"Status": "Client control mode."' in ccm and "exit code: 0" in ccm
    assert '"Status": "Activated to admin control mode."' in acm, acm
    assert "devices: 20  succeeded: 20  failed: 0" in load


def test_the_command_amtsim_device_suggests_works_and_a_plain_ws_url_says_what_to_use(tmp_path: Path) -> None:
    checkout = tmp_path / "clone"
    checkout.mkdir()
    for name in (".venv", "amtsim"):
        (checkout / name).symlink_to(ROOT / name)
    with running_quickstart(checkout / "var", RPS_DELAY_TIMER="0") as quickstart:
        environment = demo_environment(quickstart.port)
        token = quickstart.token
        profile = {"profileName": "hinted", "activation": "ccmactivate", "generateRandomPassword": True}
        subprocess.run(
            ["curl", "-sk", "-X", "POST", f"https://localhost:{quickstart.port}/api/v1/admin/profiles"]
            + ["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]
            + ["-d", json.dumps({**profile, "dhcpEnabled": True})],
            check=True,
            capture_output=True,
        )
        device = subprocess.Popen(
            [sys.executable, "-m", "amtsim", "device"],
            cwd=checkout,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert device.stdout is not None and device.stderr is not None
            announced = json.loads(device.stdout.readline())
            assert device.stderr.readline().strip() == "amtsim: 1 device(s) ready; Ctrl-C stops"
            hint = announced["rpc"]
            assert " -u wss://localhost:8443/activate -cafile var/tls/cert.pem " in hint
            # The hint, for this server's port and a real profile name; first with ws://, as the
            # old hint had it: one line saying what to use instead.
            command = shlex.split(hint.replace(":8443/", f":{quickstart.port}/").replace("PROFILE", "hinted"))
            plain = [item.replace("wss://", "ws://") for item in command[1:]]
            refused = subprocess.run(
                [sys.executable, *plain], cwd=checkout, env=environment, capture_output=True, text=True, timeout=120
            )
            used = subprocess.run(
                [sys.executable, *command[1:]], cwd=checkout, env=environment, capture_output=True, text=True
            )
            assert used.returncode == 0, used.stderr
            assert '"Status": "Client control mode."' in used.stdout
        finally:
            device.terminate()
            device.wait(timeout=30)
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("connection failed: ")
    assert line.endswith(
        "(a server on TLS, such as ./rps serve, takes -u wss://localhost:8443/activate -cafile var/tls/cert.pem)"
    )
