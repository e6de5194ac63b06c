"""Exceptions no code of a device session expects (a storage failure, a bug), caught where a step
must fail cleanly and the session go on: the step records the type name only, and the runner
logs each exception with its traceback once, when the session ends (`log_unexpected_failures`)."""

from __future__ import annotations

import logging
from contextvars import ContextVar

logger = logging.getLogger(__name__)

# Exceptions no flow expects (a storage failure, a bug) that a flow caught to fail one step cleanly,
# in the order they were caught. The runner sets it and logs each, with its traceback, when the
# session ends: the one place an unexpected exception reaches the log.
session_failures: ContextVar[list[BaseException] | None] = ContextVar("session_failures", default=None)


def unexpected_failure(error: BaseException) -> str:
    """The cause a step records for an exception no flow expects: its type name only (its text
    may carry a value). The exception itself is kept for the session's end (`session_failures`)."""
    failures = session_failures.get()
    if failures is not None:
        failures.append(error)
    return type(error).__name__


def log_unexpected_failures(failures: list[BaseException], *, device_guid: str) -> None:
    for error in failures:
        logger.error(
            "device %s: a step failed on %s",
            device_guid,
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__),
        )
