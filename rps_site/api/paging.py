"""OData-style `$top`, `$skip` and `$count` on every list, as upstream answers them (§1.3).

`ODataPagination` is the API's pagination class (DRF `DEFAULT_PAGINATION_CLASS`): a bare array,
or `{"data": [...], "totalCount": N}` when `$count` asks for the count; the count is only
computed then. Views that page something else than a queryset use `page_from_query` and
`paged_body`, the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from rps_site.api.validation import Field, validate

DEFAULT_TOP = 25
MAX_PAGE_NUMBER = 9_999_999_999

QUERY_CHAINS = (
    Field("$top", location="query")
    .optional()
    .is_int(minimum=0, maximum=MAX_PAGE_NUMBER, message="The number of items to return should be a positive integer"),
    Field("$skip", location="query")
    .optional()
    .is_int(
        minimum=0,
        maximum=MAX_PAGE_NUMBER,
        message="The number of items to skip before starting to collect the result set should be a positive integer",
    ),
    Field("$count", location="query")
    .optional()
    .is_in(["true", "false", "1", "0"], "To return total number of records in result set should be boolean"),
)
# (name, OpenAPI type, description) of each query parameter, for the schema
PARAMETERS = (
    ("$top", "integer", f"items to return (default {DEFAULT_TOP})"),
    ("$skip", "integer", "items to skip"),
    ("$count", "string", "true/1/0: answer {data, totalCount}"),
)


@dataclass(frozen=True)
class Page:
    top: int
    skip: int
    with_count: bool

    @property
    def stop(self) -> int:
        return self.skip + self.top

    def window(self, total: int) -> tuple[int, int, bool]:
        """What this page holds of `total` rows: two pages with the same window answer the same
        body (`$top=25` and `$top=10` of 3 rows are both rows 0..3)."""
        return min(self.skip, total), min(self.stop, total), self.with_count


def page_from_query(query: Mapping[str, str]) -> Page:
    params: dict[str, Any] = {key: query[key] for key in ("$top", "$skip", "$count") if key in query}
    validate(QUERY_CHAINS, params)
    top = int(params.get("$top", DEFAULT_TOP))
    skip = int(params.get("$skip", 0))
    # Upstream's switch: only an absent `$count` or exactly "false" gives a bare array.
    with_count = "$count" in params and params["$count"] != "false"
    return Page(top=top, skip=skip, with_count=with_count)


def paged_body(page: Page, items: Sequence[Any], count: Callable[[], int]) -> Any:
    if page.with_count:
        return {"data": list(items), "totalCount": count()}
    return list(items)


class ODataPagination(BasePagination):
    """DRF pagination with upstream's parameters and answer shapes."""

    page: Page
    count: Callable[[], int]

    def page_of(self, request: Request) -> Page:
        """The request's page (a 400 in upstream's shape for a bad parameter)."""
        self.page = page_from_query(request.query_params)
        return self.page

    def paginate_queryset(  # type: ignore[override]  # pages querysets only (a list has no count query)
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        page = self.page_of(request)
        self.count = cache(queryset.count)  # once per request, however often a record asks
        return list(queryset[page.skip : page.stop])

    def paginated_data(self, items: Sequence[Any]) -> Any:
        return paged_body(self.page, items, self.count)

    def get_paginated_response(self, data: Sequence[Any]) -> Response:
        return Response(self.paginated_data(data))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": name, "required": False, "in": "query", "description": text, "schema": {"type": kind}}
            for name, kind, text in PARAMETERS
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        counted = {
            "type": "object",
            "required": ["data", "totalCount"],
            "properties": {"data": {"type": "array", "items": schema}, "totalCount": {"type": "integer"}},
        }
        return {"oneOf": [{"type": "array", "items": schema}, counted]}
