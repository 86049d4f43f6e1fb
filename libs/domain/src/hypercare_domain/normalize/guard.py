"""The first gate of every raw message: bytes to a JSON object, or a :class:`Rejected` with a reason.

Checks run cheapest first, so a hostile message costs little: size before decoding, encoding before
parsing, bracket depth (a linear scan, no recursion) before ``json.loads``, control characters last.
"""

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NoReturn

from hypercare_contracts import ErrorClass

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The only JSON escapes that decode to a character of _CONTROL: \u0000-\u001f, \b and \f. A body without
# any (raw control characters are refused before parsing) has none in its parsed strings either.
_CONTROL_ESCAPE = re.compile(r"\\(?:u00[01]|[bf])")
# The JSON escapes of a UTF-16 surrogate (U+D800-U+DFFF): a pair of them is one character, a lone one is
# no character at all, and no UTF-8 text (so no Kafka message, PostgreSQL row or HTTP answer) can hold it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_JSON_KIND: dict[type, str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class Rejected(Exception):  # noqa: N818 - the name says what happened to the message, as the brief asks
    """A raw message that cannot become a report.

    Attributes:
        error_class: why, as the dead-letter metric label.
        reason: what is wrong and what to do, for a person reading the dead-letter record.
        field: dotted path of the offending field when there is one (``alerts.0.labels``).
    """

    def __init__(self, error_class: ErrorClass, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.error_class = error_class
        self.reason = reason
        self.field = field

    def __repr__(self) -> str:
        return f"Rejected({self.error_class.value!r}, {self.reason!r}, field={self.field!r})"


@dataclass(frozen=True)
class InputLimits:
    """Bounds a raw message must stay within before it is parsed.

    Attributes:
        max_bytes: largest accepted body, in bytes.
        max_depth: deepest accepted nesting of arrays and objects.
    """

    max_bytes: int = 256 * 1024
    max_depth: int = 32


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent as a float; one beyond a float's range (``1e400``) would
    parse as infinity, which JSON cannot write back, so every output made from it would be refused."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of a 64-bit float")
    return value


# What json.loads(text, parse_constant=..., parse_float=...) builds anew for every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_BOM = "\ufeff"


def _loads(text: str) -> Any:
    """``json.loads(text, parse_constant=_reject_constant)``, with one decoder for all calls."""
    if text.startswith(_BOM):
        # json.loads refuses a (second) byte order mark before decoding, with this message.
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def _bracket_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside string literals, in linear time."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(_DEPTH_STEP[ch] for ch in brackets))


def _strings_with_paths(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string (keys and values) in a parsed document, with its dotted path."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                child = f"{where}.{key}" if where else str(key)
                yield child, key
                stack.append((child, sub))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), sub) for i, sub in enumerate(item))


def decode_payload(raw: bytes, limits: InputLimits) -> dict[str, Any]:
    """Decode a raw message body into a JSON object.

    Args:
        raw: the message body as received.
        limits: size and depth bounds.

    Returns:
        The parsed JSON object.

    Raises:
        Rejected: oversize, invalid UTF-8, empty or invalid JSON (NaN and Infinity included), too deeply
            nested, control characters inside strings, or a JSON value that is not an object.
    """
    if len(raw) > limits.max_bytes:
        raise Rejected(
            ErrorClass.OVERSIZE,
            f"body is {len(raw)} bytes, above the limit of {limits.max_bytes}; split the batch or trim it",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(
            ErrorClass.INVALID_ENCODING,
            f"body is not valid UTF-8 (bad byte at offset {exc.start}); send UTF-8 encoded JSON",
        ) from exc
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise Rejected(ErrorClass.INVALID_JSON, "body is empty; send one JSON object")
    control = _CONTROL.search(text)
    if control is not None:
        raise Rejected(
            ErrorClass.CONTROL_CHARACTERS,
            f"body contains control character U+{ord(control.group()):04X} at offset {control.start()}; "
            "remove it or escape it as text",
        )
    # Nesting cannot be deeper than the number of opening brackets: count them before the exact scan.
    depth = _bracket_depth(text) if text.count("[") + text.count("{") > limits.max_depth else 0
    if depth > limits.max_depth:
        raise Rejected(
            ErrorClass.TOO_DEEP,
            f"JSON nesting depth {depth} exceeds the limit of {limits.max_depth}; flatten the payload",
        )
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(
            ErrorClass.INVALID_JSON,
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from exc
    except ValueError as exc:  # NaN/Infinity, numbers beyond a float, integers beyond the digit limit
        raise Rejected(ErrorClass.INVALID_JSON, f"body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        kind = _JSON_KIND.get(type(value), "value")
        raise Rejected(ErrorClass.NOT_AN_OBJECT, f"body is a JSON {kind}; send one JSON object per message")
    if _SURROGATE_ESCAPE.search(text) is not None:
        _refuse_lone_surrogates(value)
    if _CONTROL_ESCAPE.search(text) is None:
        return value
    for path, string in _strings_with_paths(value):
        found = _CONTROL.search(string)
        if found is not None:
            raise Rejected(
                ErrorClass.CONTROL_CHARACTERS,
                f"{path or '<root>'}: contains control character U+{ord(found.group()):04X}; remove it",
                field=path or None,
            )
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """Refuse a document whose strings hold an escape of half a UTF-16 pair (``"\\ud800"``): it parses,
    but the text it gives cannot be written as UTF-8, so every output made from it would fail to be sent
    (and the message would be delivered again for good)."""
    for path, string in _strings_with_paths(value):
        found = _SURROGATE.search(string)
        if found is not None:
            raise Rejected(
                ErrorClass.INVALID_ENCODING,
                f"{(path or '<root>').encode('utf-8', 'backslashreplace').decode()}: holds \\u"
                f"{ord(found.group()):04x}, half of a UTF-16 surrogate pair; escape whole characters",
                field=(path or None) and path.encode("utf-8", "backslashreplace").decode(),
            )
