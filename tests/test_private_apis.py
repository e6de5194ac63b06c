"""The dependencies' private APIs RPS relies on are still what rps_site/private_apis.py says."""

from __future__ import annotations

import importlib.metadata
import platform

import pytest

from rps_site.private_apis import PRIVATE_APIS, PrivateApi


def installed_version(distribution: str) -> str:
    if distribution == "python":
        return ".".join(platform.python_version_tuple()[:2])
    return importlib.metadata.version(distribution)


@pytest.mark.parametrize("api", PRIVATE_APIS, ids=lambda api: f"{api.distribution}: {api.what}")
def test_the_installed_version_is_the_one_checked(api: PrivateApi) -> None:
    installed = installed_version(api.distribution)
    assert installed == api.checked_version, (
        f"{api.distribution} {installed} is installed, but {api.what} (used in {api.where}) was checked "
        f"against {api.checked_version}: read the new code there, then update rps_site/private_apis.py"
    )


@pytest.mark.parametrize("api", PRIVATE_APIS, ids=lambda api: f"{api.distribution}: {api.what}")
def test_what_rps_relies_on_is_still_there(api: PrivateApi) -> None:
    assert api.still_holds(), f"{api.what} changed in {api.distribution}; {api.where} relies on it: {api.why}"


def test_every_private_use_in_the_code_is_listed() -> None:
    """The private uses known by name stay listed while the code has them."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    markers = {
        "_changeform_view": "ModelAdmin._changeform_view",
        "._registry": "AdminSite._registry",
        "get_conditional_response": "get_conditional_response",
        "_sslobj": "_sslobj",
        "ssl._ssl.": "ssl._ssl.ENCODING_DER",
        "handle_async_request": "handle_async_request",
    }
    listed = " ".join(api.what for api in PRIVATE_APIS)
    for app in ("activation", "devices", "portal", "profiles", "rps_site"):
        for path in (root / app).rglob("*.py"):
            if path.name == "private_apis.py":
                continue
            text = path.read_text(encoding="utf-8")
            for marker, entry in markers.items():
                if marker in text:
                    assert entry in listed, f"{path.relative_to(root)} uses {marker}, not in rps_site/private_apis.py"
