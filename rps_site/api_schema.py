"""OpenAPI for what drf-spectacular cannot infer: the MPS-format bearer token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MpsJwtScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "rps_site.authentication.MpsJwtAuthentication"
    name = "mpsJwt"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token in the format MPS issues: HS256 with RPS_JWT_SECRET, `iss`, `exp`, `tenantId`.",
        }
