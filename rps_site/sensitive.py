"""Values that must never be printed: passwords, keys, certificates with keys.

A `Secret` masks itself in repr/str/format and in tracebacks, and refuses every serializer (json,
orjson, msgpack, pickle and copy, YAML, DRF's and Django's JSON encoders, dataclass and
`__dict__`/`__slots__` walkers); the value is reached only through `reveal()`, called where it is
sent to Vault or to a device.

It is deliberately not a dataclass (orjson and `dataclasses.asdict` serialize dataclasses field by
field) and has no `__dict__`; its one slot holds a function, so even a walker that reads slots
finds no string.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, NoReturn

MASK = "********"


class Secret:
    __slots__ = ("_reveal",)
    _reveal: Callable[[], str]

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_reveal", lambda: value)

    def reveal(self) -> str:
        return self._reveal()

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())

    def __hash__(self) -> int:
        return hash((Secret, self.reveal()))

    # pickle, copy and deepcopy (and so dataclasses.asdict of a holder) go through these: each
    # would write the value into caches, sessions, channel layers or YAML.
    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be serialized; call reveal() where the value is sent")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()

    def __getstate__(self) -> NoReturn:
        self.__reduce__()

    @classmethod
    def optional(cls, value: str | None) -> Secret | None:
        return None if value is None else cls(value)
