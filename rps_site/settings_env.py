"""The environment the settings read `RPS_*` variables from: django-environ's, with a value that
cannot be read as its type refused as a bad setting (one line at start-up, `rps_site.startup`)
instead of a ValueError traceback."""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

EXPECTED = {int: "a whole number", float: "a number"}


class SettingsEnv(environ.Env):  # type: ignore[misc]
    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError:
            # The value itself is not repeated: a mistyped variable may hold something private.
            raise ImproperlyConfigured(f"{var} must be {EXPECTED.get(cast, 'a valid value')}") from None
