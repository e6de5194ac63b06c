"""One declarative list of sensitive keys, masked in every log record.

`Secret` already prints as `********`; this filter is the second line of defence for values
that arrive as plain strings (request bodies, payload dicts, exception texts).
"""

from __future__ import annotations

import logging
import re

from rps_site.sensitive import MASK

SENSITIVE_KEYS = (
    "password",
    "amtPassword",
    "mebxPassword",
    "provisioningCert",
    "provisioningCertPassword",
    "pskPassphrase",
    "pskValue",
    "AMT_PASSWORD",
    "MEBX_PASSWORD",
    "MPS_PASSWORD",
    "PENDING_AMT_PASSWORD",
    "CERT",
    "CERT_PASSWORD",
    "PSK_PASSPHRASE",
    "PASSWORD",
    "privateKey",
    "privateKeyBin",
    "token",
    "X-Vault-Token",
    "Authorization",
)

_KEY_ALTERNATION = "|".join(re.escape(key) for key in SENSITIVE_KEYS)
# "key": "value", 'key': 'value', key=value and "Authorization: Bearer x" forms.
_PATTERNS = (
    re.compile(rf"""(["']?(?:{_KEY_ALTERNATION})["']?\s*[:=]\s*)(["'])(?:\\.|(?!\2).)*\2""", re.IGNORECASE),
    re.compile(rf"""(\b(?:{_KEY_ALTERNATION})\s*[:=]\s*)(?!["'])(\S+)""", re.IGNORECASE),
)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def mask_sensitive(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)
    return _PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}", text)


_SENSITIVE_FIELDS = {key.lower() for key in SENSITIVE_KEYS}


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_sensitive(message)
        if masked != message:
            record.msg, record.args = masked, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # a structured event (rps_site.logs): its values are masked too
            record.fields = {
                key: MASK
                if key.lower() in _SENSITIVE_FIELDS
                else mask_sensitive(value)
                if isinstance(value, str)
                else value
                for key, value in fields.items()
            }
        return True
