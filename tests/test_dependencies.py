"""The lock files pin what the .in files ask for, each with hashes, and the private APIs were
checked against the locked versions (README, "Dependencies")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rps_site.private_apis import PRIVATE_APIS

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {canonical(name): version for name, version in PIN.findall(path.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("name", ["requirements", "requirements-dev", "bench/requirements"])
def test_the_lock_pins_every_direct_dependency_at_its_version(name: str) -> None:
    wanted, locked = pins(ROOT / f"{name}.in"), pins(ROOT / f"{name}.txt")
    assert {package: locked.get(package) for package in wanted} == wanted, "run scripts/lock_requirements.sh"


@pytest.mark.parametrize("name", ["requirements", "requirements-dev", "bench/requirements"])
def test_every_locked_package_has_a_hash(name: str) -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / f"{name}.txt").read_text(encoding="utf-8"))
    packages = [entry for entry in entries if PIN.match(entry)]
    assert packages and all("--hash=sha256:" in entry for entry in packages)


def test_private_apis_were_checked_against_the_locked_versions() -> None:
    locked = pins(ROOT / "requirements-dev.txt")
    for api in PRIVATE_APIS:
        if api.distribution != "python":
            assert locked.get(canonical(api.distribution)) == api.checked_version, (api.distribution, api.what)
