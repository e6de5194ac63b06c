"""The server's log: one configuration, key=value text or JSON lines (`RPS_LOG_FORMAT`), and the
events that tell what happened: one line per device session, one per API write.

An event is an ordinary log record with `event` and `fields` attributes (`log_event`), so every
handler, level and filter applies to it, the secret masking of rps_site.log_masking included.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse

session_logger = logging.getLogger("rps.device_session")
api_logger = logging.getLogger("rps.api")

WRITE_ACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
API_PREFIX = "/api/v1/admin/"
CAUSE_LIMIT = 300


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"event": event, "fields": fields})


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_value(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    if any(character in text for character in ' "=\\') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <event> key=value ...`, or the message for a plain record."""

    def format(self, record: logging.LogRecord) -> str:
        fields: Mapping[str, Any] | None = getattr(record, "fields", None)
        if fields is not None:
            body = " ".join(
                [str(getattr(record, "event", record.msg))] + [f"{k}={_text_value(v)}" for k, v in fields.items()]
            )
        else:
            body = record.getMessage()
        line = f"{_timestamp(record)} {record.levelname} {record.name} {body}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log shippers: time, level, logger, then event and its fields,
    or message."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {"time": _timestamp(record), "level": record.levelname, "logger": record.name}
        fields: Mapping[str, Any] | None = getattr(record, "fields", None)
        if fields is not None:
            document["event"] = getattr(record, "event", record.msg)
            document.update({key: value for key, value in fields.items() if key not in document})
        else:
            document["message"] = record.getMessage()
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


# --- one line per API write --------------------------------------------------------------------


def caller(request: HttpRequest) -> tuple[str, str]:
    """(who, tenant) as the API's authentication left them on the request."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous", ""
    tenant_id = getattr(user, "tenant_id", None)
    if tenant_id is not None:  # a bearer token (rps_site.authentication.TokenUser)
        return f"bearer:{user.username}", str(tenant_id)
    membership = getattr(user, "tenant_membership", None)
    return f"user:{user.get_username()}", membership.tenant_id if membership is not None else ""


class ApiWriteLogMiddleware:
    """`api_write who=… tenant=… resource=… name=… action=… status=…` for every write to the admin API,
    refused ones included (a 401 or 403 there is worth seeing)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        action = WRITE_ACTIONS.get(request.method or "")
        if action is None or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        started = time.monotonic()
        response = self.get_response(request)
        resource, _, name = request.path.removeprefix(API_PREFIX).strip("/").partition("/")
        who, tenant = caller(request)
        log_event(
            api_logger,
            "api_write",
            who=who,
            tenant=tenant,
            resource=resource,
            name=name,
            action=action,
            status=response.status_code,
            duration_ms=round((time.monotonic() - started) * 1000),
            client=request.META.get("REMOTE_ADDR", ""),
        )
        return response
