"""Who an EA connection is: the account its `x-meshauth` header names (`RPS_EA_ACCOUNTS`).

The stock EA sends `x-meshauth: base64(user),base64(password)` when a user and password are set in
its configuration (§1.1); upstream ignores the header (B1). Here it must match an account,
compared in constant time, unless `RPS_EA_ALLOW_ANONYMOUS` (debug only) lets an EA without valid
credentials serve the default tenant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

DEFAULT_TENANT = ""


@dataclass(frozen=True)
class AssistantAccount:
    user: str | None  # None: an anonymous EA (debug only)
    tenant_id: str


def meshauth_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from `base64(user),base64(password)[,base64(token)]`, or None."""
    if not header:
        return None
    parts = header.split(",")
    if len(parts) not in (2, 3):  # MeshCentral's format may add a one-time token; the EA sends none
        return None
    try:
        return base64.b64decode(parts[0].strip(), validate=True), base64.b64decode(parts[1].strip(), validate=True)
    except binascii.Error:
        return None


def _digest(value: bytes) -> bytes:
    # Equal-length digests keep compare_digest's time independent of the lengths compared too.
    return hashlib.sha256(value).digest()


def authenticate_assistant(meshauth_header: str | None) -> AssistantAccount | None:
    """The account these credentials belong to, an anonymous one when allowed, else None."""
    credentials = meshauth_credentials(meshauth_header)
    user, password = credentials if credentials is not None else (b"", b"")
    user_digest, password_digest = _digest(user), _digest(password)
    matched: AssistantAccount | None = None
    # Every account is compared, matched or not, so the time taken says nothing about which one.
    for name, (secret, tenant_id) in settings.EA_ACCOUNTS.items():
        same_user = hmac.compare_digest(user_digest, _digest(name.encode()))
        same_password = hmac.compare_digest(password_digest, _digest(secret.reveal().encode()))
        if same_user and same_password and credentials is not None:
            matched = AssistantAccount(user=name, tenant_id=tenant_id)
    if matched is None and settings.EA_ALLOW_ANONYMOUS:
        return AssistantAccount(user=None, tenant_id=DEFAULT_TENANT)
    return matched
