"""Passwords RPS makes for a device: the AMT admin and MEBx passwords of a profile that generates
them, and a CIRA config's MPS password when none is stored."""

from __future__ import annotations

import secrets as random_source
import string

from rps_site.sensitive import Secret

AMT_PASSWORD_SYMBOLS = "!@#$%^*"
GENERATED_PASSWORD_LENGTH = 16


def generate_amt_password(length: int = GENERATED_PASSWORD_LENGTH) -> Secret:
    """A password AMT accepts (8-32 characters; upper, lower, digit and one of `!@#$%^*`)."""
    alphabet = string.ascii_letters + string.digits + AMT_PASSWORD_SYMBOLS
    while True:
        candidate = "".join(random_source.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in AMT_PASSWORD_SYMBOLS for c in candidate)
        ):
            return Secret(candidate)
