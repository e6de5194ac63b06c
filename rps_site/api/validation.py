"""Request validation with express-validator 7's observable semantics (rest-api.md §1.10).

Upstream clients and the Postman suites compare errors by index, so the rules are copied:
every chain runs; a chain does not stop at its first failure; built-in validators test
`String(value)` (null → "", objects → "[object Object]") and run once per element of an array;
`optional()` skips on undefined, `optional(nullable=True)` also on null; `default()` writes back;
`if_()` skips the rest of a chain. A validator without its own message says `Invalid value`.

A chain is declared like the upstream validator file:

    Field("profileName").not_empty("AMT Domain profile name is required").matches(NAME, "...")

Before the chains, each body field the resource reads is checked against its JSON shape
(`Text`, `Number`, `Boolean`, `ArrayOf`, `Record`): upstream's String() coercion would store an
object as "[object Object]" and a list as its elements joined, and a column has a size. A shape
refuses only what upstream's chains let through to garbage (an object or a list where one value
belongs, a text longer than its column, a number no column holds); values the chains judge keep
upstream's messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rps_site.errors import ValidationFailed

INVALID_VALUE = "Invalid value"


class _Missing:
    """JavaScript's `undefined`: the key is absent."""

    def __repr__(self) -> str:
        return "undefined"


MISSING: Any = _Missing()


class CustomCheckFailed(Exception):
    """Raised by a custom validator: its text becomes the error's `msg`."""


def js_string(value: Any) -> str:
    """`String(value)` as express-validator's built-ins see it."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict,)):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join(js_string(item) for item in value)
    return str(value)


def js_truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value) if isinstance(value, (bool, int, float, str)) else True


INTEGER_TEXT = re.compile(r"[+-]?[0-9]+\Z")
VARIATION_SELECTORS = re.compile("[\ufe0e\ufe0f]")


def js_regex(pattern: str) -> re.Pattern[str]:
    """Compile a JavaScript RegExp source (no flags) with JavaScript's meaning in Python.

    A bare `$` ends the input only (Python's also matches before a final newline, so
    `^[a-z]+$` would accept "abc\\n"), and `\\d`, `\\w`, `\\b` are ASCII as in JavaScript.
    """
    translated: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            translated.append(char)
            escaped = False
        elif char == "\\":
            translated.append(char)
            escaped = True
        elif in_class:
            translated.append(char)
            in_class = char != "]"
        elif char == "[":
            translated.append(char)
            in_class = True
        else:
            translated.append(r"\Z" if char == "$" else char)
    return re.compile("".join(translated), re.ASCII)


def js_length(text: str) -> int:
    """validator.js `isLength`: astral characters count once, variation selectors not at all."""
    return len(text) - len(VARIATION_SELECTORS.findall(text))


def is_int_text(text: str, *, minimum: int | None = None, maximum: int | None = None) -> bool:
    """validator.js `isInt` with optional inclusive bounds (leading `+` and zeros allowed)."""
    if not INTEGER_TEXT.match(text):
        return False
    number = int(text)
    return (minimum is None or number >= minimum) and (maximum is None or number <= maximum)


@dataclass
class _Step:
    """One validator (or sanitizer, or condition) in a chain."""

    kind: str  # "check", "custom", "default", "if", "optional"
    run: Callable[..., Any]
    message: str | None = None
    per_element: bool = True


@dataclass
class Field:
    """One express-validator chain on one request field."""

    path: str
    location: str = "body"
    steps: list[_Step] = field(default_factory=list)

    # --- chain modifiers ------------------------------------------------------------------
    def optional(self, *, nullable: bool = False) -> Field:
        self.steps.append(_Step("optional", lambda value: value is MISSING or (nullable and value is None)))
        return self

    def default(self, replacement: Any) -> Field:
        def replace(value: Any) -> Any:
            empty = value is MISSING or value is None or value == "" or (isinstance(value, float) and math.isnan(value))
            return replacement if empty else value

        self.steps.append(_Step("default", replace))
        return self

    def if_(self, condition: Callable[[Mapping[str, Any]], Any]) -> Field:
        """Skip the rest of the chain unless `condition(body)` is truthy (an exception skips too)."""
        self.steps.append(_Step("if", condition))
        return self

    # --- built-in validators (they see String(value), once per array element) -------------------
    def check(self, predicate: Callable[[str], bool], message: str | None = None) -> Field:
        self.steps.append(_Step("check", predicate, message))
        return self

    def exists(self, message: str | None = None) -> Field:
        self.steps.append(_Step("check", lambda value: value is not MISSING, message, per_element=False))
        return self

    def not_empty(self, message: str | None = None) -> Field:
        return self.check(lambda text: len(text) > 0, message)

    def is_empty(self, message: str | None = None) -> Field:
        return self.check(lambda text: len(text) == 0, message)

    def matches(self, pattern: str | re.Pattern[str], message: str | None = None) -> Field:
        """A pattern given as text is read as a JavaScript RegExp without flags (`js_regex`)."""
        regex = js_regex(pattern) if isinstance(pattern, str) else pattern
        return self.check(lambda text: regex.search(text) is not None, message)

    def is_length(self, *, minimum: int = 0, maximum: int | None = None, message: str | None = None) -> Field:
        def within(text: str) -> bool:
            length = js_length(text)
            return minimum <= length and (maximum is None or length <= maximum)

        return self.check(within, message)

    def is_in(self, allowed: Iterable[Any], message: str | None = None) -> Field:
        allowed_texts = {js_string(item) for item in allowed}
        return self.check(lambda text: text in allowed_texts, message)

    def is_int(self, *, minimum: int | None = None, maximum: int | None = None, message: str | None = None) -> Field:
        return self.check(lambda text: is_int_text(text, minimum=minimum, maximum=maximum), message)

    def is_boolean(self, message: str | None = None) -> Field:
        return self.check(lambda text: text in {"true", "false", "1", "0"}, message)

    # --- validators that see the raw value ---------------------------------------------------
    def custom(self, validator: Callable[[Any, Mapping[str, Any]], Any], message: str | None = None) -> Field:
        """`validator(value, body)`: raise CustomCheckFailed(msg) to fail with msg, or return False."""
        self.steps.append(_Step("custom", validator, message, per_element=False))
        return self

    def raw(self, predicate: Callable[[Any], bool], message: str | None = None) -> Field:
        """A check on the raw (unstringified) value, e.g. `isArray` or a JSON-number test."""
        self.steps.append(_Step("check", predicate, message, per_element=False))
        return self

    def is_array(self, message: str | None = None, *, maximum: int | None = None) -> Field:
        return self.raw(lambda value: isinstance(value, list) and (maximum is None or len(value) <= maximum), message)

    # --- running ------------------------------------------------------------------------------
    def run(self, body: MutableMapping[str, Any], errors: list[dict[str, Any]]) -> None:
        value = body.get(self.path, MISSING) if self.location == "body" else body.get(self.path, MISSING)
        # `optional()` marks the whole chain in express-validator, wherever it is written: before
        # each step, a value it accepts as absent ends the chain.
        optional = [step for step in self.steps if step.kind == "optional"]
        for step in self.steps:
            if any(marker.run(value) for marker in optional):
                return
            if step.kind == "optional":
                continue
            if step.kind == "default":
                value = step.run(value)
                body[self.path] = value
            elif step.kind == "if":
                try:
                    if not js_truthy(step.run(body)):
                        return
                except Exception:  # noqa: BLE001  (express-validator treats a throwing condition as false)
                    return
            elif step.kind == "custom":
                try:
                    outcome = step.run(value, body)
                except CustomCheckFailed as failure:
                    errors.append(self._error(value, str(failure)))
                    continue
                if outcome is False:
                    errors.append(self._error(value, step.message or INVALID_VALUE))
            else:
                self._run_check(step, value, errors)

    def _run_check(self, step: _Step, value: Any, errors: list[dict[str, Any]]) -> None:
        if step.per_element and isinstance(value, list):
            for element in value:
                if not step.run(js_string(element)):
                    errors.append(self._error(element, step.message or INVALID_VALUE))
            return
        subject = js_string(value) if step.per_element else value
        if not step.run(subject):
            errors.append(self._error(value, step.message or INVALID_VALUE))

    def _error(self, value: Any, message: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": "field"}
        if value is not MISSING:
            error["value"] = value
        error.update({"msg": message, "path": self.path, "location": self.location})
        return error


# --- shapes ---------------------------------------------------------------------------------------

SCALARS = (str, int, float, bool, type(None))
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

Problem = tuple[str, Any, str]  # (path, value, what it must be)


class Shape(Protocol):
    def problems(self, path: str, value: Any) -> list[Problem]: ...


@dataclass(frozen=True)
class Text:
    """One value read as text (numbers and booleans pass as their text, as upstream reads them).

    `choices` and `pattern` (a JavaScript RegExp source) are what the chains accept, published in
    the OpenAPI document; the chains judge them, with upstream's messages.
    """

    max_length: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    def problems(self, path: str, value: Any) -> list[Problem]:
        if not isinstance(value, SCALARS):
            return [(path, value, "a string")]
        if self.max_length is not None and isinstance(value, str) and js_length(value) > self.max_length:
            return [(path, value, f"a string of at most {self.max_length} characters")]
        return []


@dataclass(frozen=True)
class Number:
    """One value read as a number; a JSON number must fit the column (32-bit unless told).
    `choices` are what the chains accept, published in the OpenAPI document."""

    bounds: tuple[int, int] = INT32
    choices: tuple[int, ...] = ()

    def problems(self, path: str, value: Any) -> list[Problem]:
        if not isinstance(value, SCALARS):
            return [(path, value, "a number")]
        low, high = self.bounds
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not low <= value <= high:
            return [(path, value, f"a number from {low} to {high}")]
        return []


@dataclass(frozen=True)
class Boolean:
    def problems(self, path: str, value: Any) -> list[Problem]:
        return [] if isinstance(value, SCALARS) else [(path, value, "a boolean")]


@dataclass(frozen=True)
class ArrayOf:
    """A list of `items`; a single value is left to the chains (upstream has messages for it)."""

    items: Shape

    def problems(self, path: str, value: Any) -> list[Problem]:
        if isinstance(value, dict):
            return [(path, value, "an array")]
        if not isinstance(value, list):
            return []
        return [
            problem for index, item in enumerate(value) for problem in self.items.problems(f"{path}[{index}]", item)
        ]


@dataclass(frozen=True)
class Record:
    """An object with these fields; anything else is left to the chains."""

    fields: Mapping[str, Shape]

    def problems(self, path: str, value: Any) -> list[Problem]:
        if isinstance(value, list):
            return [(path, value, "an object")]
        if not isinstance(value, dict):
            return []
        return [
            problem
            for key, shape in self.fields.items()
            if key in value
            for problem in shape.problems(f"{path}.{key}", value[key])
        ]


def shape_errors(shapes: Mapping[str, Shape], body: Mapping[str, Any], hidden: set[str]) -> list[dict[str, Any]]:
    errors = []
    for key, shape in shapes.items():
        if key not in body:
            continue
        for path, value, expected in shape.problems(key, body[key]):
            error: dict[str, Any] = {"type": "field"}
            if key not in hidden and not isinstance(value, (dict, list)) and len(js_string(value)) <= 256:
                error["value"] = value
            error.update({"msg": f"{path} must be {expected}", "path": path, "location": "body"})
            errors.append(error)
    return errors


def validate(
    chains: Iterable[Field],
    body: MutableMapping[str, Any],
    *,
    secret_paths: Iterable[str] = (),
    shapes: Mapping[str, Shape] | None = None,
) -> None:
    """Check the shapes, then run every chain in order; raise `ValidationFailed` with upstream's
    error list. A body with a misshapen field gets only the shape errors: the chains and the
    services behind them may then rely on each field's shape.

    `value` is left out for secret fields, so a rejected password is never echoed back.
    """
    hidden = set(secret_paths)
    errors = shape_errors(shapes, body, hidden) if shapes else []
    if errors:
        raise ValidationFailed(errors)
    for chain in chains:
        chain.run(body, errors)
    if errors:
        for error in errors:
            if error["path"] in hidden:
                error.pop("value", None)
        raise ValidationFailed(errors)
