"""The root certificate hashes AMT ships from the factory, which rpc-go reports as `certHashes`.

AMT firmware carries a fixed list of hashes of public CA roots, so that admin control mode works
with a provisioning certificate bought from one of those CAs (VeriSign, DigiCert, Go Daddy,
Starfield, Entrust, Comodo/USERTrust, Baltimore, Cybertrust). `factory_roots.pem` holds the real,
public root certificates of those vendors, taken from Debian's ca-certificates and, for roots
Mozilla has since removed (VeriSign G3/G5, Cybertrust), from an older certifi bundle; each
certificate is preceded by a `# <name>` line. The hashes are computed here from the DER bytes,
never typed in. Expired roots stay listed: firmware does not prune its list. A given firmware
version may ship more or fewer: this is a realistic default, not Intel's exact table.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

FACTORY_ROOTS_PEM: Final = Path(__file__).resolve().parent / "factory_roots.pem"
_NAMED_PEM = re.compile(
    r"^# (?P<name>[^\n]+)\n(?:#[^\n]*\n)*"
    r"-----BEGIN CERTIFICATE-----\n(?P<body>[A-Za-z0-9+/=\n]+?)-----END CERTIFICATE-----",
    re.MULTILINE,
)


@dataclass(frozen=True)
class FactoryRoot:
    name: str
    der: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def load_factory_roots(path: Path = FACTORY_ROOTS_PEM) -> tuple[FactoryRoot, ...]:
    text = path.read_text(encoding="ascii")
    return tuple(
        FactoryRoot(match["name"].strip(), base64.b64decode(match["body"], validate=False))
        for match in _NAMED_PEM.finditer(text)
    )


FACTORY_ROOTS: Final = load_factory_roots()
FACTORY_ROOT_HASHES: Final = tuple(root.sha256 for root in FACTORY_ROOTS)

__all__ = ["FACTORY_ROOTS", "FACTORY_ROOT_HASHES", "FactoryRoot", "load_factory_roots"]
