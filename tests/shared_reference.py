"""Where the shared reference material lies: `../shared` beside the checkout (as on developer
machines and in CI), or wherever `RPS_SHARED_DIR` points."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RPS_SHARED_DIR", ROOT.parent / "shared"))
WSMAN_FIXTURES = SHARED / "reference" / "wsman-fixtures"
POSTMAN = SHARED / "reference" / "postman"
