"""One base for the REST endpoints of every resource admins define (rest-api.md §1-2), the way
netbox builds its API views: a resource is a handful of declarations and two routes.

    class ProxyConfigs(TenantResource):
        route = "proxyconfigs"
        model = ProxyConfig                  # also the portal permission the API asks of a session
        columns = COLUMNS                    # what `.values()` reads for one record
        record = staticmethod(proxy_config_record)   # a row -> upstream's JSON record, no secret
        not_found = staticmethod(proxy_config_not_found)
        body_shapes, example = BODY, EXAMPLE
        create_service = staticmethod(proxy_config_create)   # and update_service, delete_service
        create_data = staticmethod(proxy_config_input)       # a validated body -> the service's input
        versioned = False                    # secret_fields, if_match_sets_version: as the API has them
        def chains(self, *, update): ...     # upstream's validation chains

    urlpatterns = ProxyConfigs.urls()

`/<route>` answers GET (the tenant's records, paged as §1.3), POST (create) and PATCH (update;
the name is in the body, as upstream has it); `/<route>/<name>` answers GET and DELETE. Any other
verb is 404, as upstream answers it (rps_site.api_errors).

Reads are scoped in `get_queryset` to the caller's tenant, rendered once per collection
fingerprint and tagged with it (rps_site.api.rendered_cache): a matching `If-None-Match` is 304,
for a list before any row is read. Writes run the resource's validation chains (upstream's order
and texts), wrap its secret fields as `Secret` and call one service; no serializer runs on these
paths (DESIGN.md, performance notes). A version conflict answers the current record
(`conflict_record`) through the API's exception handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

from django.http import HttpResponse
from django.urls import URLPattern, re_path
from django.utils.cache import get_conditional_response
from drf_spectacular.utils import extend_schema_view
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request
from rest_framework.response import Response

from events.rest import publish_rest_event
from profiles.api.common import json_body, reveal_secrets
from profiles.models import NamedTenantRecord, TenantQuerySet
from rps_site.api.openapi import endpoint as schema
from rps_site.api.paging import ODataPagination
from rps_site.api.rendered_cache import (
    JSON_CONTENT_TYPE,
    Fingerprint,
    RenderedCache,
    collection_fingerprint,
    render_json,
)
from rps_site.api.validation import Field, Shape, validate
from rps_site.api.versions import parse_version
from rps_site.authentication import request_tenant
from rps_site.errors import NotFound

# Every resource's rendered lists and records, keyed by table, tenant, fingerprint and request.
rendered_records = RenderedCache(maxsize=1024)


def row_of(obj: Any, columns: Iterable[str]) -> dict[str, Any]:
    """The same mapping `.values(*columns)` gives, from an instance already in memory."""
    row: dict[str, Any] = {}
    for column in columns:
        value: Any = obj
        for part in column.split("__"):
            value = getattr(value, part) if value is not None else None
        row[column] = value
    return row


class ResourceMetadata(SimpleMetadata):
    """OPTIONS answers the view's name and formats, as for any APIView: bodies are described in
    the OpenAPI document, not derived from a serializer (these views have none)."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}


class TenantResource(GenericAPIView):  # type: ignore[type-arg]
    """The declarations of one resource, and what its two views share."""

    route: ClassVar[str]
    model: ClassVar[type[NamedTenantRecord]]
    columns: ClassVar[tuple[str, ...]]
    record: ClassVar[staticmethod[[Mapping[str, Any]], dict[str, Any]]]
    not_found: ClassVar[staticmethod[[str], NotFound]]
    body_shapes: ClassVar[Mapping[str, Shape]]
    example: ClassVar[Mapping[str, Any] | None] = None
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # A validated body (secrets wrapped) as the services take it; by default the body itself.
    create_data: ClassVar[staticmethod[[Mapping[str, Any]], Any]] = staticmethod(lambda body: body)
    update_data: ClassVar[staticmethod[[Mapping[str, Any]], Any]] = staticmethod(lambda body: body)
    create_service: ClassVar[staticmethod[..., NamedTenantRecord]]
    update_service: ClassVar[staticmethod[..., NamedTenantRecord]]
    delete_service: ClassVar[staticmethod[..., None]]
    # Whether updates check `version` (rest-api.md §1.6: all but proxy configs) ...
    versioned: ClassVar[bool] = True
    # ... and whether an `If-Match` header replaces the body's version (profiles and CIRA only).
    if_match_sets_version: ClassVar[bool] = False
    name_pattern: ClassVar[str] = r"[^/]+"

    metadata_class = ResourceMetadata
    lookup_field = lookup_url_kwarg = "name"

    # --- what a resource may override ------------------------------------------------------------
    def chains(self, *, update: bool) -> list[Field]:
        """Upstream's validation chains for a create or an update body (`self.tenant_id` is set)."""
        raise NotImplementedError

    def create_input(self, body: dict[str, Any]) -> Any:
        """What the create service takes, from a body that passed the create chains."""
        validate(self.chains(update=False), body, secret_paths=self.secret_fields, shapes=self.body_shapes)
        return self.create_data(reveal_secrets(body, self.secret_fields))

    def update_input(self, body: dict[str, Any]) -> Any:
        validate(self.chains(update=True), body, secret_paths=self.secret_fields, shapes=self.body_shapes)
        return self.update_data(reveal_secrets(body, self.secret_fields))

    def records(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Rows of `columns` as the API answers them."""
        return [self.record(row) for row in rows]

    def list_records(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return self.records(rows)

    def record_of(self, instance: NamedTenantRecord) -> dict[str, Any]:
        return self.records([row_of(instance, self.columns)])[0]

    def created_record(self, instance: NamedTenantRecord, data: Any) -> dict[str, Any]:
        return self.record_of(instance)

    def updated_record(self, instance: NamedTenantRecord) -> dict[str, Any]:
        return self.record_of(instance)

    def conflict_record(self, current: NamedTenantRecord) -> dict[str, Any]:
        """The stored record a 409/412 answers with (rest-api.md §1.6), without secrets."""
        return self.record_of(current)

    # --- shared machinery -------------------------------------------------------------------------
    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        publish_rest_event(self.route, request, response, url_name=kwargs.get("name"))  # MQTT, events.md §4
        return response

    @cached_property
    def tenant_id(self) -> str:
        return request_tenant(self.request)

    def get_queryset(self) -> TenantQuerySet:
        return self.model.objects.for_tenant(self.tenant_id)

    def fingerprint(self) -> Fingerprint:
        return collection_fingerprint(self.model._meta.db_table, self.tenant_id)

    def rendered(
        self, fingerprint: Fingerprint, key: tuple[Any, ...], render: Callable[[], Any]
    ) -> HttpResponse | None:
        """The answer with what `render()` gives (None: there is no such record), from the cache
        while nothing changed, tagged when it is the answer for `fingerprint`."""
        body, current = rendered_records.get_or_render(
            (fingerprint, key), lambda: _json_or_none(render()), still_current=lambda: self.fingerprint() == fingerprint
        )
        if body is None:
            return None
        response = HttpResponse(body, content_type=JSON_CONTENT_TYPE)
        if current:
            response["ETag"] = fingerprint.entity_tag(*key)
        return response

    def expected_version(self, request: Request, body: Mapping[str, Any]) -> int | None:
        if self.if_match_sets_version and "HTTP_IF_MATCH" in request.META:
            # Upstream's If-Match middleware replaces the body's version, after validation.
            return parse_version(request.META["HTTP_IF_MATCH"])
        return parse_version(body.get("version"))

    @classmethod
    def urls(cls) -> list[URLPattern]:
        """The collection and item routes, each a view class made of this resource and its verbs."""
        shared = {"permission_model": cls.model, "queryset": cls.model._default_manager.all()}
        one, many = cls.model._meta.verbose_name, cls.model._meta.verbose_name_plural
        collection: type[TenantResource] = extend_schema_view(
            get=schema(cls.route, operation_id=f"{cls.route}_list", paged=True, description=f"The tenant's {many}."),
            post=schema(
                cls.route, status=201, body=cls.body_shapes, example=cls.example, description=f"Creates one {one}."
            ),
            patch=schema(cls.route, body=cls.body_shapes, description=f"Update the {one} the body names."),
        )(type(f"{cls.model.__name__}Collection", (CollectionVerbs, cls), shared))
        item: type[TenantResource] = extend_schema_view(
            get=schema(cls.route, description=f"One {one}, by name in any case."),
            delete=schema(cls.route, status=204, description=f"Deletes one {one}."),
        )(type(f"{cls.model.__name__}Item", (ItemVerbs, cls), shared))
        return [
            re_path(rf"^{cls.route}/?$", collection.as_view(), name=cls.route),
            re_path(rf"^{cls.route}/(?P<name>{cls.name_pattern})/?$", item.as_view(), name=cls.route[:-1]),
        ]


def _json_or_none(data: Any) -> bytes | None:
    return None if data is None else render_json(data)


class CollectionVerbs(TenantResource):
    """GET, POST and PATCH on `/<route>`."""

    def get(self, request: Request) -> HttpResponse:
        paginator: ODataPagination = self.paginator  # type: ignore[assignment]
        page = paginator.page_of(request)
        fingerprint = self.fingerprint()
        key = ("list", *page.window(fingerprint.count))
        tag = fingerprint.entity_tag(*key)
        # 304 (or If-Match's 412) before any row is read (undocumented Django: rps_site/private_apis.py)
        early = get_conditional_response(request, etag=tag)
        if early is not None:
            if early.status_code == 304:
                early["ETag"] = tag
            return early
        response = self.rendered(fingerprint, key, self.render_list)
        assert response is not None  # a list is never "not found"
        return response

    def render_list(self) -> Any:
        rows = self.paginate_queryset(self.get_queryset().values(*self.columns))
        paginator: ODataPagination = self.paginator  # type: ignore[assignment]
        return paginator.paginated_data(self.list_records(rows or []))

    def post(self, request: Request) -> Response:
        data = self.create_input(json_body(request))
        instance = self.create_service(tenant_id=self.tenant_id, data=data)
        return Response(self.created_record(instance, data), status=201)

    def patch(self, request: Request) -> Response:
        body = json_body(request)
        data = self.update_input(body)
        version = {"expected_version": self.expected_version(request, body)} if self.versioned else {}
        instance = self.update_service(tenant_id=self.tenant_id, data=data, **version)
        return Response(self.updated_record(instance))


class ItemVerbs(TenantResource):
    """GET and DELETE on `/<route>/<name>`."""

    def get(self, request: Request, name: str) -> HttpResponse:
        response = self.rendered(self.fingerprint(), ("one", name), lambda: self.render_one(name))
        if response is None:
            raise self.not_found(name)
        return response

    def render_one(self, name: str) -> dict[str, Any] | None:
        rows = list(self.get_queryset().named(name).values(*self.columns)[:1])
        return self.records(rows)[0] if rows else None

    def delete(self, request: Request, name: str) -> Response:
        self.delete_service(tenant_id=self.tenant_id, name=name)
        return Response(status=204)
