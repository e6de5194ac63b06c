"""Bearer tokens in the format MPS issues, so the stock sample web UI works unchanged.

HS256 signed with `RPS_JWT_SECRET`, `iss` equal to `RPS_JWT_ISSUER`, an `exp`, and a `tenantId`
claim. The tenant of a request always comes from its credential, never from its body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

BEARER = "bearer"


@dataclass(frozen=True)
class TokenUser:
    """The caller behind a valid bearer token (no database row: MPS owns the accounts)."""

    tenant_id: str
    subject: str

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    pk = None

    @property
    def username(self) -> str:
        return self.subject or "bearer"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return f"bearer:{self.username}@{self.tenant_id or '(default)'}"


class TokenExpired(exceptions.AuthenticationFailed):
    """The bearer token's `exp` has passed (the web UI then shows "session timed out")."""

    default_detail = "token expired"


def issue_token(*, tenant_id: str, subject: str = "rps", lifetime_seconds: int | None = None) -> str:
    now = int(time.time())
    claims = {
        "tenantId": tenant_id,
        "sub": subject,
        "iss": settings.JWT_ISSUER,
        "iat": now,
        "exp": now + (lifetime_seconds or settings.JWT_LIFETIME_SECONDS),
    }
    return jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")


def decode_token(token: str) -> TokenUser:
    try:
        claims = jwt.decode(
            token,
            settings.JWT_SECRET,
            algorithms=["HS256"],
            issuer=settings.JWT_ISSUER,
            options={"require": ["exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.InvalidIssuerError:
        raise exceptions.AuthenticationFailed("token issuer is not accepted") from None
    except jwt.PyJWTError:
        raise exceptions.AuthenticationFailed("token is invalid") from None
    tenant_id = claims.get("tenantId", "")
    if not isinstance(tenant_id, str) or len(tenant_id) > 36:
        raise exceptions.AuthenticationFailed("token tenantId claim is invalid")
    return TokenUser(tenant_id=tenant_id, subject=str(claims.get("sub", "")))


class MpsJwtAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenUser, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != BEARER:
            return None
        token = token.strip()
        if not token:
            raise exceptions.AuthenticationFailed("bearer token is empty")
        return decode_token(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="rps"'


def request_tenant(request: Request) -> str:
    """The tenant a request acts for: the token's claim, or the session user's tenant."""
    user = request.user
    if isinstance(user, TokenUser):
        return user.tenant_id
    membership = getattr(user, "tenant_membership", None)
    return membership.tenant_id if membership is not None else ""
