"""Record versions: strictly increasing, from 1000, never the suite's stale probe values."""

from __future__ import annotations

import pytest

from rps_site.api.versions import FIRST_VERSION, next_version, parse_version


@pytest.mark.django_db
def test_versions_increase_and_start_high() -> None:
    drawn = [next_version() for _ in range(5)]
    assert drawn == sorted(set(drawn))
    assert drawn[0] >= FIRST_VERSION
    assert not {100, 123, 751} & set(drawn)


@pytest.mark.parametrize(
    ("text", "parsed"), [("1001", 1001), (1002, 1002), ("abc", None), (None, None), ("-5", None), ("", None)]
)
def test_parse_version(text: object, parsed: int | None) -> None:
    assert parse_version(text) == parsed
