"""SECURITY.md check 4: a `Secret` masks itself everywhere; the log filter masks plain values."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rps_site.log_masking import MaskSecretsFilter, mask_sensitive
from rps_site.sensitive import Secret


@given(st.text(min_size=1).filter(lambda text: text not in "Secret('********')"))
def test_secret_never_shows_its_value(value: str) -> None:
    secret = Secret(value)
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s" % secret,  # noqa: UP031  (logging still formats this way)
        format(secret, ">20"),
    ):
        assert value not in shown or value in "Secret('********')"
    assert secret.reveal() == value


def test_secret_in_containers_exceptions_and_json() -> None:
    secret = Secret("Canary-123!x")
    assert "Canary" not in repr({"password": secret, "list": [secret]})
    try:
        raise ValueError(f"bad value {secret}")
    except ValueError as error:
        assert "Canary" not in str(error)
    with pytest.raises(TypeError):
        json.dumps({"password": secret})
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_log_filter_masks_plain_secret_values(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskSecretsFilter())
    caplog.set_level(logging.DEBUG, logger="test.masking")
    logger.debug("body %s", '{"amtPassword": "Canary-1!", "profileName": "p1"}')
    logger.debug("pw=%s token: %s", "x", "y")
    logger.debug("Authorization: Bearer abc.def.ghi")
    text = caplog.text
    assert "Canary-1!" not in text and "p1" in text
    assert "abc.def" not in text


@pytest.mark.parametrize(
    ("raw", "hidden"),
    [
        ("{'password': 'hunter2'}", "hunter2"),
        ('"pskPassphrase":"wifi-key"', "wifi-key"),
        ("MPS_PASSWORD=abc123", "abc123"),
        ('"provisioningCertPassword": "pfx\\"quoted"', "pfx"),
    ],
)
def test_mask_sensitive_forms(raw: str, hidden: str) -> None:
    assert hidden not in mask_sensitive(raw)
