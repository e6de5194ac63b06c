"""REST endpoints for domains (rest-api.md §2.1): `/api/v1/admin/domains[/<name>]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.urls import URLPattern, re_path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles import pfx
from profiles.api.common import js_regex, json_body, list_response, reveal_secrets, schema
from profiles.models import Domain
from profiles.selectors.domains import domain_count, domain_get, domain_list, domain_record, domain_record_of
from profiles.services.domains import domain_create, domain_delete, domain_not_found, domain_update
from rps_site.api.validation import INT64, MISSING, CustomCheckFailed, Field, Number, Shape, Text, js_string, validate
from rps_site.authentication import request_tenant

NAME_SOURCE = r"^[a-zA-Z0-9_-]+$"
NAME = js_regex(NAME_SOURCE)
SECRET_FIELDS = ("provisioningCert", "provisioningCertPassword")
STORAGE_FORMATS = ["raw", "string"]
BODY: dict[str, Shape] = {
    "profileName": Text(max_length=256, pattern=NAME_SOURCE),
    "domainSuffix": Text(max_length=256),
    "provisioningCert": Text(max_length=pfx.MAX_BASE64_CHARACTERS),
    "provisioningCertPassword": Text(),
    "provisioningCertStorageFormat": Text(choices=tuple(STORAGE_FORMATS)),
    "version": Number(INT64),
}


def provisioning_certificate_check(value: Any, body: Mapping[str, Any]) -> bool:
    """The eight PFX checks, when both the certificate and its password are given: as the text the
    service will store (so `false` is checked as "false", not skipped and then stored unchecked)."""
    password = body.get("provisioningCertPassword", MISSING)
    if not js_string(value) or not js_string(password):
        return True
    suffix = body.get("domainSuffix", MISSING)
    if suffix is MISSING or suffix is None:
        # Upstream dereferences the missing suffix: a second error after `domainSuffix`'s own.
        missing = "undefined" if suffix is MISSING else "null"
        raise CustomCheckFailed(f"Cannot read properties of {missing} (reading 'split')")
    try:
        pfx.check_provisioning_certificate(js_string(value), js_string(password), js_string(suffix))
    except pfx.PfxRejected as rejected:
        raise CustomCheckFailed(str(rejected)) from None
    return True


def create_chains() -> list[Field]:
    return [
        Field("profileName")
        .not_empty("AMT Domain profile name is required")
        .matches(NAME, "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
        Field("provisioningCertPassword")
        .not_empty("Provisioning Cert Password is required")
        .is_length(maximum=64, message="Password should not exceed 64 characters in length"),
        Field("domainSuffix").not_empty("Domain suffix name is required"),
        Field("provisioningCert")
        .not_empty("Provisioning certificate is required")
        .custom(provisioning_certificate_check),
        Field("provisioningCertStorageFormat")
        .not_empty("Provisioning Cert Storage Format is required")
        .is_in(STORAGE_FORMATS, "Provisioning Cert Storage Format should be either 'raw' or 'string'"),
    ]


def update_chains() -> list[Field]:
    return [
        Field("profileName")
        .not_empty("AMT Domain profile name is required")
        .matches(NAME, "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
        Field("provisioningCertStorageFormat").is_in(
            STORAGE_FORMATS, 'Provisioning Cert Storage Format is either "raw" or "string"'
        ),
        Field("provisioningCertPassword").is_length(
            maximum=64, message="Password should not exceed 64 characters in length"
        ),
    ]


class DomainCollection(APIView):
    permission_model = Domain

    @schema("domains", operation_id="domains_list", paged=True)
    def get(self, request: Request) -> Response:
        tenant_id = request_tenant(request)
        return list_response(
            request,
            lambda page: domain_list(tenant_id=tenant_id, page=page),
            lambda: domain_count(tenant_id=tenant_id),
            domain_record,
        )

    @schema("domains", status=201, body=BODY)
    def post(self, request: Request) -> Response:
        body = json_body(request)
        validate(create_chains(), body, secret_paths=SECRET_FIELDS, shapes=BODY)
        domain = domain_create(tenant_id=request_tenant(request), data=reveal_secrets(body, SECRET_FIELDS))
        return Response(domain_record_of(domain), status=201)

    @schema("domains", body=BODY)
    def patch(self, request: Request) -> Response:
        body = json_body(request)
        validate(update_chains(), body, secret_paths=SECRET_FIELDS, shapes=BODY)
        domain = domain_update(tenant_id=request_tenant(request), data=reveal_secrets(body, SECRET_FIELDS))
        return Response(domain_record_of(domain))


class DomainItem(APIView):
    permission_model = Domain

    @schema("domains")
    def get(self, request: Request, name: str) -> Response:
        domain = domain_get(tenant_id=request_tenant(request), name=name)
        if domain is None:
            raise domain_not_found(name)
        return Response(domain_record_of(domain))

    @schema("domains", status=204)
    def delete(self, request: Request, name: str) -> Response:
        domain_delete(tenant_id=request_tenant(request), name=name)
        return Response(status=204)


urlpatterns: list[URLPattern] = [
    re_path(r"^domains/?$", DomainCollection.as_view(), name="domains"),
    re_path(r"^domains/(?P<name>[^/]+)/?$", DomainItem.as_view(), name="domain"),
]
