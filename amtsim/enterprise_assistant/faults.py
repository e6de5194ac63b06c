"""Fault switches for the virtual Enterprise Assistant (enterprise-assistant.md §11.4).

A fault matches the request the EA received by its subaction (`PROFILE_REQUEST`,
`KEY_PAIR_RESPONSE`, `CSR_RESPONSE`, or "*"), fires `times` times (None: always) after skipping
`skip` matches, and changes what the EA does about it:

    ea.faults.add(EaFault.silent(KEY_PAIR_RESPONSE))                   # S8: never answers
    ea.faults.add(EaFault.malformed(KEY_PAIR_RESPONSE, "response.csr"))  # S10: a field missing
    ea.faults.add(EaFault.disconnect(CSR_RESPONSE))                    # drops its socket mid-exchange
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

PROFILE_REQUEST = "802.1x-ProFile-Request"
KEY_PAIR_RESPONSE = "802.1x-KeyPair-Response"
CSR_RESPONSE = "802.1x-CSR-Response"
# Short names for the command line.
SUBACTION_ALIASES = {"profile": PROFILE_REQUEST, "key-pair": KEY_PAIR_RESPONSE, "csr": CSR_RESPONSE, "*": "*"}


class EaFaultKind(Enum):
    SILENT = "silent"  # no answer (what the real EA does on any error of its own)
    DISCONNECT = "disconnect"  # close the WebSocket on receiving the request
    MALFORMED = "malformed"  # the reply with `path` removed ("response" drops the whole object)
    CHANGE = "change"  # the reply with `path` set to `value` (e.g. another keyInstanceId, S11)
    WRONG_SUBACTION = "wrong-subaction"  # the reply with subaction `value` (S21)
    WRONG_NODEID = "wrong-nodeid"  # the reply with a nodeid nobody asked for (S17)
    NOT_JSON = "not-json"  # a frame that is not JSON; then the reply if `then_reply` (S20)
    DELAY = "delay"  # the reply after `seconds` (S18)
    DUPLICATE = "duplicate"  # the reply twice (S19)


@dataclass
class EaFault:
    kind: EaFaultKind
    subaction: str = "*"
    times: int | None = 1
    skip: int = 0
    path: str = ""
    value: Any = None
    seconds: float = 0.0
    then_reply: bool = False
    matched: int = 0
    fired: int = 0

    @classmethod
    def silent(cls, subaction: str = "*", **options: Any) -> EaFault:
        return cls(EaFaultKind.SILENT, subaction, **options)

    @classmethod
    def disconnect(cls, subaction: str = "*", **options: Any) -> EaFault:
        return cls(EaFaultKind.DISCONNECT, subaction, **options)

    @classmethod
    def malformed(cls, subaction: str, path: str = "response", **options: Any) -> EaFault:
        return cls(EaFaultKind.MALFORMED, subaction, path=path, **options)

    @classmethod
    def change(cls, subaction: str, path: str, value: Any, **options: Any) -> EaFault:
        return cls(EaFaultKind.CHANGE, subaction, path=path, value=value, **options)

    @classmethod
    def wrong_subaction(cls, subaction: str, reply_subaction: str = "Profile-Completed", **options: Any) -> EaFault:
        return cls(EaFaultKind.WRONG_SUBACTION, subaction, value=reply_subaction, **options)

    @classmethod
    def wrong_nodeid(cls, subaction: str = "*", **options: Any) -> EaFault:
        return cls(EaFaultKind.WRONG_NODEID, subaction, **options)

    @classmethod
    def not_json(cls, subaction: str = "*", *, then_reply: bool = False, **options: Any) -> EaFault:
        return cls(EaFaultKind.NOT_JSON, subaction, then_reply=then_reply, **options)

    @classmethod
    def delay(cls, subaction: str, seconds: float, **options: Any) -> EaFault:
        return cls(EaFaultKind.DELAY, subaction, seconds=seconds, **options)

    @classmethod
    def duplicate(cls, subaction: str = "*", **options: Any) -> EaFault:
        return cls(EaFaultKind.DUPLICATE, subaction, **options)

    @classmethod
    def from_switch(cls, switch: str) -> EaFault:
        """The command line's `KIND[:SUBACTION[:ARGUMENT]]`, firing on every match: `silent:key-pair`,
        `malformed:csr:response.certificate`, `delay:profile:20`, `wrong-subaction:key-pair:CSR-Request`."""
        kind_name, _, rest = switch.partition(":")
        subaction_name, _, argument = rest.partition(":")
        kind = EaFaultKind(kind_name)
        subaction = SUBACTION_ALIASES.get(subaction_name or "*", subaction_name)
        fault = cls(kind, subaction, times=None)
        if kind in (EaFaultKind.MALFORMED, EaFaultKind.CHANGE):
            path, _, value = argument.partition("=")
            fault.path, fault.value = path or "response", value
        elif kind is EaFaultKind.WRONG_SUBACTION:
            fault.value = argument or "Profile-Completed"
        elif kind is EaFaultKind.DELAY:
            fault.seconds = float(argument or "30")
        elif kind is EaFaultKind.NOT_JSON:
            fault.then_reply = argument == "then-reply"
        return fault

    def matches(self, subaction: str) -> bool:
        return self.subaction in ("*", subaction)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times
