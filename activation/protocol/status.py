"""The status JSON of a terminal message (protocol.md §2.7): components, their results and the
key order rpc-go and the web UI read (correction 10)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ComponentResult(StrEnum):
    SUCCESS = "Success"
    FAILURE = "Failure"
    NOT_APPLICABLE = "NotApplicable"


class ComponentMode(StrEnum):
    ACM = "ACM"
    CCM = "CCM"
    LOCAL_PROFILE_SYNC = "LocalProfileSync"


@dataclass(frozen=True)
class ComponentStatus:
    result: ComponentResult
    details: str
    mode: ComponentMode | None = None

    def as_json(self) -> dict[str, str]:
        document = {"Result": self.result.value}
        if self.mode is not None:
            document["Mode"] = self.mode.value
        document["Details"] = self.details
        return document


class Component(StrEnum):
    """The `Components` keys of §2.7, in upstream's order, with their "not part of" names."""

    ACTIVATION = "Activation"
    WIRED_NETWORK = "WiredNetwork"
    WIRELESS_NETWORK = "WirelessNetwork"
    TLS = "TLS"
    CIRA_PROXY = "CIRAProxy"
    CIRA_CONNECTION = "CIRAConnection"

    @property
    def readable_name(self) -> str:
        return {
            Component.ACTIVATION: "Activation",
            Component.WIRED_NETWORK: "Wired network",
            Component.WIRELESS_NETWORK: "Wireless network",
            Component.TLS: "TLS",
            Component.CIRA_PROXY: "CIRA proxy",
            Component.CIRA_CONNECTION: "CIRA connection",
        }[self]


def not_applicable(component: Component) -> ComponentStatus:
    return ComponentStatus(ComponentResult.NOT_APPLICABLE, f"{component.readable_name} not part of this configuration")


@dataclass
class ActivationStatus:
    """The status object of §2.7, JSON-encoded into `message`. Key order (correction 10):
    Status, Components, Network, then the optional CIRAConnection and TLSConfiguration."""

    status: str
    components: dict[Component, ComponentStatus] = field(
        default_factory=lambda: {component: not_applicable(component) for component in Component}
    )
    network: str | None = None
    cira_connection: str | None = None
    tls_configuration: str | None = None

    @property
    def any_component_failed(self) -> bool:
        return any(c.result is ComponentResult.FAILURE for c in self.components.values())

    def as_json(self) -> str:
        document: dict[str, Any] = {
            "Status": self.status,
            "Components": {component.value: self.components[component].as_json() for component in Component},
        }
        if self.network is not None:
            document["Network"] = self.network
        if self.cira_connection is not None:
            document["CIRAConnection"] = self.cira_connection
        if self.tls_configuration is not None:
            document["TLSConfiguration"] = self.tls_configuration
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class PlainStatus:
    """Deactivation and maintenance report only `{"Status": "..."}` (§2.7)."""

    status: str

    def as_json(self) -> str:
        return json.dumps({"Status": self.status}, ensure_ascii=False, separators=(",", ":"))
