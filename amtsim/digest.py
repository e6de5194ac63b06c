"""HTTP Digest authentication the way Intel AMT speaks it (RFC 2617, MD5, qop="auth").

The device side issues challenges and verifies answers; the client side (used by tests and
by the load generator's probes) computes them. AMT's own quirks are kept on purpose:
the realm is ``Digest:<32 hex>``, the challenge has inconsistent separators, and ``stale``
is a quoted string. See protocol.md §3.3 and the ``401_digest_challenge_*.http`` fixtures.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - digest auth is MD5 by definition


def digest_ha1(*, username: str, realm: str, password: str) -> str:
    return md5_hex(f"{username}:{realm}:{password}")


def digest_response(
    *,
    ha1: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str = "auth",
    method: str = "POST",
    uri: str = "/wsman",
) -> str:
    """The ``response`` value of RFC 2617 §3.2.2.1 for qop=auth."""
    ha2 = md5_hex(f"{method}:{uri}")
    return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def admin_password_hash(*, realm: str, password: str) -> str:
    """``NetworkAdminPassword`` of Setup/AdminSetup: md5hex("admin:<realm>:<password>")."""
    return digest_ha1(username="admin", realm=realm, password=password)


def admin_digest_password(*, realm: str, password: str) -> str:
    """``DigestPassword`` of SetAdminAclEntryEx: base64 of the same MD5's 16 raw bytes."""
    return base64.b64encode(bytes.fromhex(admin_password_hash(realm=realm, password=password))).decode()


def parse_digest_params(header_value: str) -> dict[str, str]:
    """Split ``Digest k="v", k2=v2`` into a dict; tolerant of AMT's and RPS's separators."""
    text = header_value.strip()
    if text[:6].lower() == "digest":
        text = text[6:]
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = quoted.replace('\\"', '"') if quoted is not None else bare or ""
        position = match.end()
    return params


@dataclass(frozen=True)
class DigestChallenge:
    """What a 401 carries in ``WWW-Authenticate``."""

    realm: str
    nonce: str
    qop: str = "auth"
    stale: bool = False

    def header_value(self) -> str:
        # Byte-for-byte AMT's layout: a space after the first comma only.
        stale = "true" if self.stale else "false"
        return f'Digest realm="{self.realm}", nonce="{self.nonce}",stale="{stale}",qop="{self.qop}"'

    @classmethod
    def parse(cls, header_value: str) -> DigestChallenge:
        params = parse_digest_params(header_value)
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            qop="auth" if "qop" in params else "",
            stale=params.get("stale", "false").lower() == "true",
        )


@dataclass(frozen=True)
class DigestAuthorization:
    """A parsed ``Authorization: Digest ...`` header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str
    nc: str
    cnonce: str

    @classmethod
    def parse(cls, header_value: str) -> DigestAuthorization | None:
        if not header_value.strip().lower().startswith("digest"):
            return None
        params = parse_digest_params(header_value)
        try:
            return cls(
                username=params["username"],
                realm=params["realm"],
                nonce=params["nonce"],
                uri=params["uri"],
                response=params["response"].lower(),
                qop=params.get("qop", ""),
                nc=params.get("nc", ""),
                cnonce=params.get("cnonce", ""),
            )
        except KeyError:
            return None


@dataclass
class DigestClient:
    """Client side of the digest exchange, as RPS does it (§3.3 step 5).

    ``nc`` counts every authenticated request and is not reset by a new challenge.
    """

    username: str
    password: str
    challenge: DigestChallenge | None = None
    request_count: int = 0

    def authorization(self, *, method: str = "POST", uri: str = "/wsman") -> str | None:
        if self.challenge is None:
            return None
        self.request_count += 1
        nc = f"{self.request_count:08x}"
        cnonce = secrets.token_hex(4)
        ha1 = digest_ha1(username=self.username, realm=self.challenge.realm, password=self.password)
        response = digest_response(ha1=ha1, nonce=self.challenge.nonce, nc=nc, cnonce=cnonce, method=method, uri=uri)
        return (
            f'Digest username="{self.username}",realm="{self.challenge.realm}",'
            f'nonce="{self.challenge.nonce}",uri="{uri}",qop="auth",response="{response}",'
            f'nc="{nc}",cnonce="{cnonce}"'
        )


class NonceVerdict(Enum):
    VALID = "valid"
    UNKNOWN = "unknown"  # never issued here, or expired
    REPLAYED = "replayed"  # nc not above the last one seen for this nonce


@dataclass
class NonceRegistry:
    """Nonces this device has issued, with the highest ``nc`` seen on each.

    rpc-go opens a fresh TCP connection per WS-Man message, so nonces must outlive
    connections; the registry belongs to the device, not to a connection.
    """

    capacity: int = 4096
    _last_nc: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def issue(self) -> str:
        # AMT nonces are 32 base64 characters (24 random bytes).
        nonce = base64.b64encode(secrets.token_bytes(24)).decode()
        self._last_nc[nonce] = 0
        while len(self._last_nc) > self.capacity:
            self._last_nc.popitem(last=False)
        return nonce

    def knows(self, nonce: str) -> bool:
        return nonce in self._last_nc

    def check_and_advance(self, nonce: str, nc: str) -> NonceVerdict:
        if nonce not in self._last_nc:
            return NonceVerdict.UNKNOWN
        try:
            count = int(nc, 16)
        except ValueError:
            return NonceVerdict.REPLAYED
        if len(nc) != 8 or count <= self._last_nc[nonce]:
            return NonceVerdict.REPLAYED
        self._last_nc[nonce] = count
        return NonceVerdict.VALID

    def expire_all(self) -> None:
        self._last_nc.clear()


class AuthFailure(Enum):
    MISSING = "no Authorization header"
    MALFORMED = "Authorization header is not a usable digest"
    WRONG_REALM = "realm does not match"
    WRONG_URI = "uri does not match the request target"
    WRONG_QOP = "qop must be auth"
    MISSING_CNONCE = "cnonce missing"
    UNKNOWN_USER = "unknown user for the current control mode"
    BAD_RESPONSE = "digest response does not match"
    STALE_NONCE = "nonce unknown or expired"
    REPLAYED_NC = "nonce count not increasing"


@dataclass(frozen=True)
class AuthOutcome:
    username: str | None
    failure: AuthFailure | None

    @property
    def ok(self) -> bool:
        return self.failure is None


def verify_authorization(
    *,
    header_value: str | None,
    method: str,
    request_target: str,
    realm: str,
    accounts: dict[str, str],
    nonces: NonceRegistry,
) -> AuthOutcome:
    """Check a request's digest answer; ``accounts`` maps username to its HA1 hex.

    The MD5 math is checked before the nonce count, so a replay of a correct answer is
    told apart from a wrong password (only the former advances nothing).
    """
    if not header_value:
        return AuthOutcome(None, AuthFailure.MISSING)
    authorization = DigestAuthorization.parse(header_value)
    if authorization is None:
        return AuthOutcome(None, AuthFailure.MALFORMED)
    if authorization.realm != realm:
        return AuthOutcome(None, AuthFailure.WRONG_REALM)
    if authorization.uri != request_target:
        return AuthOutcome(None, AuthFailure.WRONG_URI)
    if authorization.qop != "auth":
        return AuthOutcome(None, AuthFailure.WRONG_QOP)
    if not authorization.cnonce:
        return AuthOutcome(None, AuthFailure.MISSING_CNONCE)
    ha1 = accounts.get(authorization.username)
    if ha1 is None:
        return AuthOutcome(None, AuthFailure.UNKNOWN_USER)
    expected = digest_response(
        ha1=ha1,
        nonce=authorization.nonce,
        nc=authorization.nc,
        cnonce=authorization.cnonce,
        qop=authorization.qop,
        method=method,
        uri=authorization.uri,
    )
    if not secrets.compare_digest(expected, authorization.response):
        return AuthOutcome(None, AuthFailure.BAD_RESPONSE)
    verdict = nonces.check_and_advance(authorization.nonce, authorization.nc)
    if verdict is NonceVerdict.UNKNOWN:
        return AuthOutcome(None, AuthFailure.STALE_NONCE)
    if verdict is NonceVerdict.REPLAYED:
        return AuthOutcome(None, AuthFailure.REPLAYED_NC)
    return AuthOutcome(authorization.username, None)
