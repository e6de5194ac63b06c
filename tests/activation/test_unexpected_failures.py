"""An exception no flow expects: the step records its type name only, and the session's end logs
it once, with its traceback (activation/unexpected_failures.py, the flows' error idiom)."""

from __future__ import annotations

import logging

import pytest

from activation.unexpected_failures import log_unexpected_failures, session_failures, unexpected_failure

GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"


class StorageBroke(Exception):
    pass


def fail_in_storage() -> None:
    raise StorageBroke("the secret value s3cr3t-in-text never goes on a step")


def test_the_step_keeps_the_type_name_and_the_end_of_the_session_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[BaseException] = []
    token = session_failures.set(failures)
    try:
        try:
            fail_in_storage()
        except Exception as error:  # noqa: BLE001 - what the flows do
            cause = unexpected_failure(error)
    finally:
        session_failures.reset(token)
    assert cause == "StorageBroke"
    assert [type(error) for error in failures] == [StorageBroke]

    with caplog.at_level(logging.ERROR, logger="activation.unexpected_failures"):
        log_unexpected_failures(failures, device_guid=GUID)
    (record,) = caplog.records
    assert GUID in record.getMessage() and "StorageBroke" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is StorageBroke
    assert "fail_in_storage" in caplog.text  # the traceback, down to where it was raised


def test_outside_a_session_nothing_is_kept() -> None:
    assert session_failures.get() is None
    assert unexpected_failure(ValueError("x")) == "ValueError"
