"""ODataPagination: upstream's `$top/$skip/$count` rules as a DRF pagination class (rest-api.md §1.3)."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from profiles.models import ProxyConfig
from rps_site.api.paging import ODataPagination, Page
from rps_site.api.versions import next_version
from rps_site.errors import ValidationFailed


def request(query: str) -> Request:
    return Request(APIRequestFactory().get(f"/x?{query}"))


def test_it_is_the_apis_pagination_class() -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"] == "rps_site.api.paging.ODataPagination"


@pytest.mark.django_db
def test_a_bare_array_unless_count_is_asked_and_the_count_only_then(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    for index in range(3):
        ProxyConfig.objects.create(
            tenant_id="t-paging", name=f"p{index}", address="a", info_format=3, port=index, version=next_version()
        )
    queryset = ProxyConfig.objects.for_tenant("t-paging").values_list("name", flat=True)
    paginator = ODataPagination()
    with django_assert_num_queries(1):
        rows = paginator.paginate_queryset(queryset, request("$top=2&$skip=1&$count=false"))
        assert paginator.paginated_data(rows) == ["p1", "p2"]
    paginator = ODataPagination()
    with django_assert_num_queries(2):
        rows = paginator.paginate_queryset(queryset, request("$top=1&$count=0"))
        assert paginator.get_paginated_response(rows).data == {"data": ["p0"], "totalCount": 3}


def test_bad_parameters_are_refused_in_upstreams_order() -> None:
    with pytest.raises(ValidationFailed) as failed:
        ODataPagination().page_of(request("$top=-1&$skip=x&$count=TRUE"))
    assert [error["path"] for error in failed.value.errors] == ["$top", "$skip", "$count"]


def test_pages_holding_the_same_rows_share_a_window() -> None:
    assert Page(top=25, skip=0, with_count=False).window(3) == Page(top=10, skip=0, with_count=False).window(3)
    assert Page(top=2, skip=0, with_count=False).window(3) != Page(top=3, skip=0, with_count=False).window(3)
    assert Page(top=5, skip=0, with_count=True).window(3) != Page(top=5, skip=0, with_count=False).window(3)


def test_the_schema_hooks_describe_the_parameters_and_both_answers() -> None:
    paginator = ODataPagination()
    assert [parameter["name"] for parameter in paginator.get_schema_operation_parameters(None)] == [
        "$top",
        "$skip",
        "$count",
    ]
    schema = paginator.get_paginated_response_schema({"type": "object"})
    bare, counted = schema["oneOf"]
    assert bare == {"type": "array", "items": {"type": "object"}}
    assert counted["required"] == ["data", "totalCount"]
