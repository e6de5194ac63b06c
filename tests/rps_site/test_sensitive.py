"""SECURITY.md check 4: a `Secret` masks itself everywhere; the log filter masks plain values."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
import pytest
import yaml
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder as DrfJSONEncoder

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


CANARY = "Canary-serial-7!"


@dataclasses.dataclass
class Holder:
    password: Any


# Every serializer the project or its libraries use: the API (DRF), sessions and signing (Django's
# JSON), device frames (orjson), the channel layer (msgpack in channels_redis), profile export
# (PyYAML), caches (pickle), and generic walkers (deepcopy, dataclasses.asdict; copy and vars below).
SERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "json": json.dumps,
    "json-django-encoder": lambda value: json.dumps(value, cls=DjangoJSONEncoder),
    "json-drf-encoder": lambda value: json.dumps(value, cls=DrfJSONEncoder),
    "drf-renderer": JSONRenderer().render,
    "django-signing": signing.dumps,
    "orjson": orjson.dumps,
    "msgpack": msgpack.packb,
    "pickle": pickle.dumps,
    "pickle-protocol-0": lambda value: pickle.dumps(value, protocol=0),
    "deepcopy": copy.deepcopy,
    "yaml-dump": yaml.dump,
    "yaml-safe-dump": yaml.safe_dump,
    "dataclasses-asdict": lambda value: dataclasses.asdict(Holder(value)),
    "dataclasses-astuple": lambda value: dataclasses.astuple(Holder(value)),
}


@pytest.mark.parametrize("serializer", SERIALIZERS.values(), ids=SERIALIZERS.keys())
@pytest.mark.parametrize("shape", ["bare", "in-dict", "in-list"])
def test_every_serializer_refuses_a_secret(serializer: Callable[[Any], Any], shape: str) -> None:
    secret = Secret(CANARY)
    value = {"bare": secret, "in-dict": {"password": secret}, "in-list": [secret]}[shape]
    try:
        produced = serializer(value)
    except (TypeError, ValueError, yaml.YAMLError):
        return
    raise AssertionError(f"serialized a Secret: {produced!r}")


def test_walkers_find_no_value() -> None:
    secret = Secret(CANARY)
    with pytest.raises(TypeError):
        vars(secret)
    assert not hasattr(secret, "__dict__")
    assert not dataclasses.is_dataclass(secret)
    slots = [getattr(secret, name) for name in type(secret).__slots__]
    assert all(not isinstance(value, str) for value in slots)
    with pytest.raises(AttributeError):
        secret._reveal = lambda: "changed"  # type: ignore[method-assign]
    for walk in (secret.__getstate__, lambda: copy.copy(secret), lambda: secret.__reduce_ex__(4)):
        with pytest.raises(TypeError):
            walk()
    # Formats that fall back to str() get the mask, never the value.
    assert CANARY not in json.dumps({"password": secret}, default=str)
    assert CANARY not in orjson.dumps({"password": secret}, default=str).decode()
    assert secret.reveal() == CANARY and secret == Secret(CANARY) and secret != Secret("other")


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
