"""Telling a valid JSON message that PostgreSQL could not store (a string holding U+0000)."""

import json

import pytest
from hypercare_runtime.deadletter import holds_nul


@pytest.mark.parametrize(
    "value",
    [
        {"title": "checkout\x00 fails"},
        {"labels": {"team\x00": "payments"}},  # keys are strings too
        {"links": [{"href": "https://x.test/\x00"}]},
        {"title": "a backslash, then a NUL: \\\x00"},
        {"title": "\x00"},
    ],
)
def test_a_string_holding_nul_is_found_wherever_it_is(value: object) -> None:
    assert holds_nul(json.dumps(value).encode())


@pytest.mark.parametrize(
    "value",
    [
        {"title": "checkout fails"},
        {"title": "the text \\u0000 written out"},  # a backslash and 'u0000': storable
        {"title": "two backslashes, then u0000: \\\\u0000"},
        {"count": 0, "ids": ["u0000", "0000"]},
    ],
)
def test_text_that_only_looks_like_an_escaped_nul_is_storable(value: object) -> None:
    assert not holds_nul(json.dumps(value).encode())
