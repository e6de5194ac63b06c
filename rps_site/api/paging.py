"""OData-style `$top`, `$skip` and `$count` on every list, as upstream answers them (§1.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Page:
    top: int
    skip: int
    with_count: bool

    @property
    def stop(self) -> int:
        return self.skip + self.top


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
