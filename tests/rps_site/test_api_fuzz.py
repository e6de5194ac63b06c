"""Schemathesis over the API's own OpenAPI document (/api/schema), every operation, with a bearer
token, in process against the real PostgreSQL and OpenBao: no input reaches a 5xx, and every error
has its documented shape (issue #11 finding 6; rest-api.md §1.9).

Generation covers valid and invalid bodies, path names and OData parameters; the example count
keeps the whole run under a minute (RPS_FUZZ_EXAMPLES raises it for a longer hunt).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from rps_site.authentication import issue_token
from rps_site.vault import SecretStore

EXAMPLES = int(os.environ.get("RPS_FUZZ_EXAMPLES", "25"))
ERROR_KEYS = {"error", "message"}
VALIDATION_KEYS = {"type", "msg", "path", "location"}


@pytest.fixture
def api_schema(vault: SecretStore, transactional_db: None) -> Any:
    """The app as daphne serves it, but in process; each request commits, as in production."""
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())


schema = schemathesis.pytest.from_fixture("api_schema")


def shape_problem(status: int, body: Any) -> str | None:
    """What is wrong with an answer's body, given its status (None: it has the documented shape)."""
    if status in (409, 412) or status < 400:
        return None  # a record, or no body
    if not isinstance(body, dict):
        return "an error without a JSON object body"
    if status == 400 and "errors" in body:
        if set(body) != {"errors"} or not body["errors"]:
            return "a validation answer with other keys, or no errors"
        for error in body["errors"]:
            if not VALIDATION_KEYS <= set(error) <= VALIDATION_KEYS | {"value"}:
                return f"a validation error with keys {sorted(error)}"
            if error["location"] not in ("body", "query"):
                return f"a validation error located in {error['location']!r}"
        return None
    if set(body) != ERROR_KEYS or not all(isinstance(body[key], str) for key in ERROR_KEYS):
        return f"an error with keys {sorted(body)}"
    return None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_reaches_a_500_and_every_error_has_its_documented_shape(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {issue_token(tenant_id='fuzz')}"})
    assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:500])
    content_type = response.headers.get("content-type", [""])[0]
    body = response.json() if response.text and "json" in content_type else None
    problem = shape_problem(response.status_code, body)
    assert problem is None, (problem, case.method, case.formatted_path, response.status_code, response.text[:300])
