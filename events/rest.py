"""The REST events of upstream's admin API (events.md §4.1, §4.2), published after each answer of a
profile-side resource: a success event per handler that reached its success branch, and a `fail`
event for every error upstream's handlers catch (not found, duplicates, version conflicts, Vault
or database failures). Validation errors (`{"errors": [...]}`), refused credentials, throttling
and bodies over the limit publish nothing: upstream never reaches a handler for those.

The texts are upstream's, odd spacing and literal labels included, so that consumers matching
them keep working. The device, audit and other resources upstream does not have publish nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from events.publisher import publish_event
from rps_site.api.validation import js_string
from rps_site.logs import API_PREFIX

logger = logging.getLogger(__name__)
NOT_HANDLER_ERRORS = frozenset({401, 403, 405, 413, 429})
UNDEFINED = "undefined"


@dataclass(frozen=True)
class ResourceEvents:
    """(methods label, message) per handler; `{}` in a message is the name (URL or body)."""

    listed: tuple[str, str]
    one: tuple[str, str]
    created: tuple[str, str]
    updated: tuple[str, str]
    deleted: tuple[str, str]
    body_name: str = "profileName"
    # Failure labels some handlers pass literally instead of the name (§4.2), by verb.
    literal_failure_labels: Mapping[str, str] = field(default_factory=dict)
    updated_name_from_answer: bool = False  # 802.1X: the stored name, not the body's


EVENTS = {
    "domains": ResourceEvents(
        ("getAllDomains", "Sent domains"),
        ("getDomain", "Sent Domain : {}"),
        ("createDomain", "Created Domain : {}"),
        ("editDomain", "Domain Updated : {}"),
        ("deleteDomain", "Domain Deleted : {}"),
    ),
    "profiles": ResourceEvents(
        ("allProfiles", "Sent profiles"),
        ("getProfile", "Sent Profile : {}"),
        ("createProfile", "Created Profile : {}"),
        ("editProfile", "Updated Profile : {}"),
        ("deleteProfile", "Deleted Profile : {}"),
    ),
    "ciraconfigs": ResourceEvents(
        ("allCiraConfigs", "Sent configs"),
        ("getCiraConfig", "Get CIRA config profile : {}"),
        ("createCiraConfig", "Created {}"),
        ("editCiraConfig", "Updated CIRA config profile : {}"),
        ("deleteCiraConfig", "Deleted CIRA config : {}"),
        body_name="configName",
    ),
    "wirelessconfigs": ResourceEvents(
        ("allWirelessProfiles", "Sent wireless profiles"),
        ("getWirelessProfiles", "Sent Wireless Profile : {}"),
        ("createWirelessProfiles", "Created wireless profile : {}"),
        ("editWirelessProfiles", "Updated Wireless Profile : {}"),
        ("deleteWirelessProfiles", "Deleted wireless profile : {}"),
        literal_failure_labels={"POST": "wirelessConfig.profileName"},
    ),
    "ieee8021xconfigs": ResourceEvents(
        ("getAllIEEE8021xConfigs", "Sent all 802.1x configurations"),
        ("getIeee8021xProfiles", "Sent 802.1x Profile : {}"),
        ("createIEEE8021xProfiles", "Created 802.1x profile : {}"),
        ("edit8021xProfiles", "Updated8021x Profile : {}"),
        ("deleteIEEE8021xProfiles", "Deleted 802.1x profile : {}"),
        literal_failure_labels={"POST": "ieee8021xConfig.profileName"},
        updated_name_from_answer=True,
    ),
    "proxyconfigs": ResourceEvents(
        ("allProxyConfigs", "Sent proxy configs"),
        ("getProxyProfile", "Sent Profile : {}"),
        ("createProxyConfigs", "Created proxy profile: {}"),
        ("editProxyConfig", "Updated proxy configuration : {}"),
        ("deleteProxyProfile", "Deleted proxy configuration : {}"),
        body_name="name",
        literal_failure_labels={
            "GET": "getProxyProfile",
            "POST": "proxyConfig.name",
            "PATCH": "proxyConfigAccessInfo",
            "DELETE": "deleteProxyProfile",
        },
    ),
}


def _text(value: Any) -> str:
    """A value as a JavaScript template literal shows it."""
    if value is None:
        return "null"
    return js_string(value)


def _body_name(request: Request, events: ResourceEvents) -> str:
    body = request.data if isinstance(request.data, dict) else {}  # JSON: see _body_parses
    return _text(body[events.body_name]) if events.body_name in body else UNDEFINED


def _body_parses(request: Request) -> bool:
    """Whether the body is JSON; upstream's handlers never see one that is not (no event)."""
    if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
        return False
    try:
        json.loads(request.body or b"{}")
    except ValueError:
        return False
    return True


def _success(events: ResourceEvents, request: Request, response: Response, url_name: str | None) -> tuple[str, str]:
    method = request.method
    if method == "GET":
        label, message = events.listed if url_name is None else events.one
        return label, message.format(url_name)
    if method == "DELETE":
        return events.deleted[0], events.deleted[1].format(url_name)
    label, message = events.created if method == "POST" else events.updated
    name = _body_name(request, events)
    answer = getattr(response, "data", None)
    if events.updated_name_from_answer and method == "PATCH" and isinstance(answer, dict) and "profileName" in answer:
        name = _text(answer["profileName"])
    return label, message.format(name)


def _failure_label(events: ResourceEvents, request: Request, url_name: str | None) -> str:
    method = request.method or ""
    literal = events.literal_failure_labels.get(method)
    if literal is not None and not (method == "GET" and url_name is None):
        return literal
    if method in ("GET", "DELETE"):
        return url_name or ""
    return _body_name(request, events)


def _is_validation_error(response: Response) -> bool:
    answer = getattr(response, "data", None)
    return isinstance(answer, dict) and "errors" in answer


def publish_rest_event(route: str, request: Request, response: Response, *, url_name: str | None) -> None:
    """The event for one answer of `/api/v1/admin/<route>[/<url_name>]`, when upstream has one;
    never disturbs the answer."""
    try:
        _publish_rest_event(route, request, response, url_name=url_name)
    except Exception:
        logger.exception("no MQTT event for this answer")


def _publish_rest_event(route: str, request: Request, response: Response, *, url_name: str | None) -> None:
    events = EVENTS.get(route)
    if settings.MQTT is None or events is None or request.method not in ("GET", "POST", "PATCH", "DELETE"):
        return
    if request.method in ("POST", "PATCH") and not _body_parses(request):
        return
    status = response.status_code
    if status < 400:
        label, message = _success(events, request, response, url_name)
        publish_event("success", message, [label])
    elif status not in NOT_HANDLER_ERRORS and not _is_validation_error(response):
        label = _failure_label(events, request, url_name)
        publish_event("fail", f"Failed to {request.method}: {label}", [f"{API_PREFIX}{route}"])


def publish_export_failure(request: Request, response: Response, *, name: str) -> None:
    """Profile export publishes no success event; its failures are the profiles router's (§4.2)."""
    if settings.MQTT is not None and response.status_code >= 400 and response.status_code not in NOT_HANDLER_ERRORS:
        publish_event("fail", f"Failed to GET: {name}", [f"{API_PREFIX}profiles"])
