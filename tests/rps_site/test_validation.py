"""The validation engine's JavaScript semantics fixed here (rest-api.md §1.10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rps_site.api.validation import Field, js_length, js_regex, validate
from rps_site.errors import ValidationFailed


def errors_for(chain: Field, body: dict[str, object]) -> list[dict[str, object]]:
    try:
        validate([chain], body)
    except ValidationFailed as failed:
        return failed.errors
    return []


def test_dollar_ends_the_input_only_as_in_javascript() -> None:
    chain = Field("name").matches(r"^[a-zA-Z0-9_-]+$", "bad name")
    assert errors_for(chain, {"name": "abc"}) == []
    assert errors_for(chain, {"name": "abc\n"}) == [
        {"type": "field", "value": "abc\n", "msg": "bad name", "path": "name", "location": "body"}
    ]


def test_dollar_inside_a_character_class_or_escaped_stays_literal() -> None:
    assert js_regex(r"^[a-z$]+$").search("ab$") is not None
    assert js_regex(r"^a\$$").search("a$") is not None
    assert js_regex(r"^a\$$").search("a$\n") is None
    assert js_regex(r"^(?=.*[$@!])[a-z$@!]{3}$").search("ab$") is not None


def test_digit_and_word_classes_are_ascii() -> None:
    assert js_regex(r"^\d+$").search("١٢٣") is None  # Arabic-Indic digits are not JS \d
    assert js_regex(r"^\w+$").search("é") is None


def test_top_level_alternation_keeps_search_semantics() -> None:
    pattern = js_regex(r"^ab|cd$")
    assert pattern.search("abzz") is not None and pattern.search("zzcd") is not None
    assert pattern.search("zzcd\n") is None


def test_is_length_counts_like_validator_js() -> None:
    assert js_length("😀") == 1  # one astral character
    assert js_length("❤️") == 1  # a variation selector does not count
    chain = Field("ssid").is_length(maximum=2, message="too long")
    assert errors_for(chain, {"ssid": "😀😀"}) == []
    assert errors_for(chain, {"ssid": "abc"})[0]["msg"] == "too long"


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=20))
def test_ascii_names_match_exactly_when_a_fullmatch_would(text: str) -> None:
    import re

    expected = re.fullmatch(r"[a-zA-Z0-9_-]+", text) is not None
    assert (js_regex(r"^[a-zA-Z0-9_-]+$").search(text) is not None) is expected


@pytest.mark.parametrize("value", ["abc\n", "abc\r\n"])
def test_domain_style_name_rule_rejects_trailing_newlines(value: str) -> None:
    assert errors_for(Field("profileName").matches(r"^[a-zA-Z0-9_-]+$", "x"), {"profileName": value})
