"""decode_payload: the first gate every raw message passes, and what it refuses."""

import time

import pytest
from hypercare_contracts import ErrorClass
from hypercare_domain.normalize import InputLimits, Rejected, decode_payload

pytestmark = pytest.mark.unit

LIMITS = InputLimits()


@pytest.mark.parametrize(
    ("raw", "error_class", "in_reason"),
    [
        pytest.param(b"", ErrorClass.INVALID_JSON, "empty", id="empty-body"),
        pytest.param(b"  \n ", ErrorClass.INVALID_JSON, "empty", id="whitespace-body"),
        pytest.param(b'{"id": 1,', ErrorClass.INVALID_JSON, "line 1 column", id="truncated-json"),
        pytest.param(b"{'id': 1}", ErrorClass.INVALID_JSON, "not valid JSON", id="single-quotes"),
        pytest.param(b'{"value": NaN}', ErrorClass.INVALID_JSON, "NaN", id="nan"),
        pytest.param(b'{"value": -Infinity}', ErrorClass.INVALID_JSON, "Infinity", id="infinity"),
        pytest.param(
            b'{"n": ' + b"9" * 5000 + b"}", ErrorClass.INVALID_JSON, "not valid JSON", id="huge-int"
        ),
        pytest.param(b"[1, 2]", ErrorClass.NOT_AN_OBJECT, "array", id="array"),
        pytest.param(b'"checkout broken"', ErrorClass.NOT_AN_OBJECT, "string", id="string"),
        pytest.param(b"42", ErrorClass.NOT_AN_OBJECT, "number", id="number"),
        pytest.param(b"null", ErrorClass.NOT_AN_OBJECT, "null", id="null"),
        pytest.param(b"\xff\xfe{}", ErrorClass.INVALID_ENCODING, "offset 0", id="latin1-bytes"),
        pytest.param(b'{"text": "caf\xc3"}', ErrorClass.INVALID_ENCODING, "UTF-8", id="cut-utf8"),
        pytest.param(b'{"text": "a\x00b"}', ErrorClass.CONTROL_CHARACTERS, "U+0000", id="raw-nul"),
        pytest.param(b'{"text": "a\x1bb"}', ErrorClass.CONTROL_CHARACTERS, "U+001B", id="raw-escape"),
        pytest.param(b'{"n": 1e400}', ErrorClass.INVALID_JSON, "beyond the range", id="number-beyond-float"),
        pytest.param(b'{"n": -2.5E+999}', ErrorClass.INVALID_JSON, "beyond the range", id="negative-beyond"),
        pytest.param(b'{"x": "\\ud800"}', ErrorClass.INVALID_ENCODING, "surrogate", id="lone-high-surrogate"),
        pytest.param(b'{"x": ["\\uDC00"]}', ErrorClass.INVALID_ENCODING, "x.0", id="lone-low-surrogate"),
        pytest.param(b'{"\\ud800": 1}', ErrorClass.INVALID_ENCODING, "surrogate", id="surrogate-in-a-key"),
    ],
)
def test_bad_bodies_are_rejected_with_their_class(
    raw: bytes, error_class: ErrorClass, in_reason: str
) -> None:
    with pytest.raises(Rejected) as caught:
        decode_payload(raw, LIMITS)
    assert caught.value.error_class is error_class
    assert in_reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"text": "a\\u0000b"}', "text"),
        (b'{"user": {"name": "\\u001b[31mred"}}', "user.name"),
        (b'{"alerts": [{"labels": {"x": "ok"}}, {"labels": {"x": "\\u0007"}}]}', "alerts.1.labels.x"),
        (b'{"bad\\u0000key": 1}', "bad\x00key"),
    ],
)
def test_escaped_control_characters_are_rejected_with_their_path(raw: bytes, field: str) -> None:
    with pytest.raises(Rejected) as caught:
        decode_payload(raw, LIMITS)
    assert caught.value.error_class is ErrorClass.CONTROL_CHARACTERS
    assert caught.value.field == field


def test_tabs_and_newlines_in_strings_are_kept() -> None:
    assert decode_payload(b'{"text": "line\\nnext\\ttab\\r"}', LIMITS) == {"text": "line\nnext\ttab\r"}


def test_a_utf8_byte_order_mark_is_tolerated() -> None:
    assert decode_payload('\ufeff{"text": "Größe"}'.encode(), LIMITS) == {"text": "Größe"}


def test_oversize_is_rejected_before_parsing() -> None:
    limits = InputLimits(max_bytes=100)
    exactly = b'{"text": "' + b"x" * 88 + b'"}'
    assert len(exactly) == 100
    assert decode_payload(exactly, limits) == {"text": "x" * 88}
    with pytest.raises(Rejected) as caught:
        decode_payload(exactly + b" " + b"\xff" * 10, limits)  # would also be bad UTF-8
    assert caught.value.error_class is ErrorClass.OVERSIZE
    assert "111 bytes" in caught.value.reason
    assert "100" in caught.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="arrays"),
        pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="objects"),
        pytest.param(b"[" * 10_000, id="unbalanced"),
    ],
)
def test_pathological_nesting_is_rejected_fast(raw: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(Rejected) as caught:
        decode_payload(raw, LIMITS)
    assert caught.value.error_class is ErrorClass.TOO_DEEP
    assert "10000" in caught.value.reason
    assert time.perf_counter() - started < 0.5


def test_depth_limit_is_inclusive_and_ignores_brackets_inside_strings() -> None:
    limits = InputLimits(max_depth=3)
    assert decode_payload(b'{"a": {"b": [1]}}', limits) == {"a": {"b": [1]}}
    assert decode_payload(b'{"a": "[[[[[[{{{{ \\" [[["}', limits) == {"a": '[[[[[[{{{{ " [[['}
    with pytest.raises(Rejected) as caught:
        decode_payload(b'{"a": {"b": [[1]]}}', limits)
    assert caught.value.error_class is ErrorClass.TOO_DEEP


def test_a_large_valid_body_decodes_quickly() -> None:
    items = ",".join(f'{{"id": "{i}", "text": "checkout [{i}] {{ok}}"}}' for i in range(3000))
    raw = f'{{"items": [{items}]}}'.encode()
    started = time.perf_counter()
    decoded = decode_payload(raw, LIMITS)
    assert len(decoded["items"]) == 3000
    assert time.perf_counter() - started < 0.5


def test_an_escaped_surrogate_pair_is_one_character_and_a_tiny_number_is_zero() -> None:
    assert decode_payload(b'{"text": "\\ud83d\\ude00 works", "n": 1e-400}', LIMITS) == {
        "text": "\U0001f600 works",
        "n": 0.0,
    }
