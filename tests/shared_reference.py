"""The interop suite's material, which is not part of the repository: upstream's Postman suites and
recorded AMT WS-Man answers.

It is looked for in `RPS_REFERENCE_DIR`, else `$RPS_SHARED_DIR/reference`, else `../shared/reference`
beside the checkout (as on the project's developer machines and in CI). The tests that read it
call `wsman_fixture` or `require_reference`: without the material they are skipped with one reason,
unless `RPS_INTEROP_REQUIRED=true` (CI, `.ci/run`), where its absence fails the run instead.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _reference_dir() -> Path:
    if explicit := os.environ.get("RPS_REFERENCE_DIR"):
        return Path(explicit)
    if shared := os.environ.get("RPS_SHARED_DIR"):
        return Path(shared) / "reference"
    return ROOT.parent / "shared" / "reference"


REFERENCE = _reference_dir()
WSMAN_FIXTURES = REFERENCE / "wsman-fixtures"
POSTMAN = REFERENCE / "postman"
INTEROP_REQUIRED = os.environ.get("RPS_INTEROP_REQUIRED", "").lower() in {"1", "true", "yes"}
SKIP_PREFIX = "interop suite skipped"


def missing_reference(*parts: Path) -> str | None:
    """Why the interop suite cannot run here, in one line; None when the material is there."""
    absent = [part for part in (parts or (WSMAN_FIXTURES, POSTMAN)) if not part.is_dir()]
    if not absent:
        return None
    where = REFERENCE if not REFERENCE.is_dir() else absent[0]
    return (
        f"{SKIP_PREFIX}: no reference material at {where} "
        "(upstream's Postman suites and recorded WS-Man answers; set RPS_REFERENCE_DIR)"
    )


def require_reference(*parts: Path) -> None:
    """Skip the calling test, or the module when called at import, if the material is absent.

    With `RPS_INTEROP_REQUIRED` nothing is skipped: the session refuses to start instead
    (tests/conftest.py), so a missing file can only fail."""
    reason = missing_reference(*parts)
    if reason and not INTEROP_REQUIRED:
        import pytest

        pytest.skip(reason, allow_module_level=True)


def wsman_fixture(name: str) -> bytes:
    """A recorded AMT answer from reference/wsman-fixtures."""
    require_reference(WSMAN_FIXTURES)
    return (WSMAN_FIXTURES / name).read_bytes()


def wsman_fixture_names() -> set[str]:
    require_reference(WSMAN_FIXTURES)
    return {path.name for path in WSMAN_FIXTURES.glob("*.xml")}
