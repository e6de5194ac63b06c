"""HTTP digest authentication as AMT speaks it (protocol.md §3.3, corrections 5 and 6)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final

from rps_site.sensitive import Secret


@dataclass(frozen=True)
class DigestChallenge:
    realm: str
    nonce: str
    qop: str | None
    opaque: str | None = None


_CHALLENGE_PARAMETER: Final = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*,?')


def parse_digest_challenge(header: str) -> DigestChallenge | None:
    """`Digest realm="…", nonce="…",stale="false",qop="auth"` (separators vary on AMT)."""
    scheme, _, parameters_text = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    parameters = {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _CHALLENGE_PARAMETER.finditer(parameters_text)
    }
    if "realm" not in parameters or "nonce" not in parameters:
        return None
    # §3.3 step 3: when qop is offered, use "auth" (AMT offers nothing else).
    return DigestChallenge(
        realm=parameters["realm"],
        nonce=parameters["nonce"],
        qop="auth" if "qop" in parameters else None,
        opaque=parameters.get("opaque"),
    )


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - RFC 2617 digest is MD5


def digest_response(
    *,
    username: str,
    password: Secret,
    realm: str,
    method: str,
    uri: str,
    nonce: str,
    nonce_count: str,
    cnonce: str,
    qop: str | None,
) -> str:
    ha1 = md5_hex(f"{username}:{realm}:{password.reveal()}")
    ha2 = md5_hex(f"{method}:{uri}")
    if qop is None:
        return md5_hex(f"{ha1}:{nonce}:{ha2}")
    return md5_hex(f"{ha1}:{nonce}:{nonce_count}:{cnonce}:{qop}:{ha2}")


def new_cnonce() -> str:
    # 12 characters like upstream's; token_hex draws once instead of once per character.
    return secrets.token_hex(6)
