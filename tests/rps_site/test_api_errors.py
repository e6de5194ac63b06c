"""One table maps every business error to its status and upstream's `{error, message}` body."""

from __future__ import annotations

from typing import Any

import pytest

from rps_site import errors
from rps_site.api_errors import api_exception_handler
from rps_site.vault import SecretVersionConflict, VaultCredentialRefused, VaultUnavailable


def every_subclass(cls: type[errors.RpsError]) -> list[type[errors.RpsError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *every_subclass(sub)]
    return found


def answer(exc: Exception, **context: Any) -> tuple[int, Any]:
    response = api_exception_handler(exc, context)
    return response.status_code, response.data


def test_every_business_error_class_has_an_answer() -> None:
    """A class added to rps_site.errors (or below it, as the vault's) without an entry would
    reach the handler with nowhere to go."""
    for cls in every_subclass(errors.RpsError):
        if cls in (errors.VersionConflict, errors.ValidationFailed, errors.MissingReference):
            continue  # answered with their own shapes, below
        exc = cls.__new__(cls)
        exc.public_message = "why"
        status, body = answer(exc)
        assert status < 500 or status == 503, cls
        assert set(body) == {"error", "message"}, cls


@pytest.mark.parametrize(
    ("exc", "status", "error"),
    [
        (errors.OperationFailed("Operation failed: p1"), 400, "Error"),
        (errors.MalformedInput("The request body must be a JSON object."), 400, "Bad Request"),
        (errors.NotFound("AMT profile p1 Not Found"), 404, "Not Found"),
        (errors.Duplicate("AMT profile p1 already exists"), 400, "Unique key violation"),
        (errors.InUse("Proxy profile: p1 is associated with an AMT Profile."), 400, "Foreign key violation"),
    ],
)
def test_business_errors_keep_upstreams_names_and_texts(exc: errors.RpsError, status: int, error: str) -> None:
    assert answer(exc) == (status, {"error": error, "message": exc.public_message})


def test_a_missing_reference_names_upstreams_constraint_text() -> None:
    exc = errors.MissingReference("Referenced constraint c1 doesn't exist", detail='violates "fk"')
    assert answer(exc) == (
        400,
        {
            "error": 'Foreign key constraint violation: violates "fk"',
            "message": "Referenced constraint c1 doesn't exist",
        },
    )


def test_validation_failures_keep_express_validators_list() -> None:
    failure = [{"type": "field", "msg": "Invalid value", "path": "port", "location": "body"}]
    assert answer(errors.ValidationFailed(failure)) == (400, {"errors": failure})


def test_vault_failures_say_their_public_text_not_the_operation() -> None:
    status, body = answer(VaultUnavailable("write"))
    assert (status, body) == (503, {"error": "Service Unavailable", "message": VaultUnavailable.public_message})
    assert "write" not in body["message"]
    late = VaultUnavailable("write", maybe_applied=True)
    assert answer(late)[1]["message"] == VaultUnavailable.MAYBE_APPLIED
    assert answer(VaultCredentialRefused("read"))[1]["message"] == VaultCredentialRefused.public_message
    status, body = answer(SecretVersionConflict("tenants/a/profiles/p1"))
    assert (status, body["error"]) == (409, "Conflict") and "tenants/a" not in body["message"]


def test_a_version_conflict_answers_the_views_record_with_the_stored_version() -> None:
    class View:
        def conflict_record(self, current: Any) -> dict[str, Any]:
            return {"name": current, "version": "1001"}

    class Request:
        def __init__(self, meta: dict[str, str]) -> None:
            self.META = meta

    conflict = errors.VersionConflict("p1", 1001)
    for meta, status in (({}, 409), ({"HTTP_IF_MATCH": "anything"}, 412)):
        response = api_exception_handler(conflict, {"view": View(), "request": Request(meta)})
        assert response.status_code == status
        assert response.data == {"name": "p1", "version": "1001"}
        assert response["ETag"] == "1001"
