"""Values that must never be printed: passwords, keys, certificates with keys.

A `Secret` masks itself in repr/str/format/JSON and in tracebacks; the value is reached only
through `reveal()`, called where it is sent to Vault or to a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MASK = "********"


@dataclass(frozen=True, slots=True)
class Secret:
    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self.value)

    def __reduce__(self) -> Any:
        # Pickling would write the value into caches, sessions or channel layers.
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def optional(cls, value: str | None) -> Secret | None:
        return None if value is None else cls(value)
