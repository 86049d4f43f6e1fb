"""Pure normalization: raw producer payloads in, redacted and fingerprinted ``NormalizedReport`` out.

Bytes pass :func:`decode_payload` (size, encoding, JSON, depth, control characters), then
:func:`detect_format` and :func:`parse_raw` (contract models), then a per-format builder. Everything a
message is refused for raises :class:`Rejected` with an :class:`~hypercare_contracts.ErrorClass` and a
reason for a person, ready for the dead-letter topic.
"""

from hypercare_domain.normalize.components import (
    UNKNOWN,
    ComponentMap,
    ComponentPolicy,
    ComponentRule,
    load_component_map,
)
from hypercare_domain.normalize.detect import detect_format, parse_raw, source_of
from hypercare_domain.normalize.fingerprint import (
    fingerprint_alert,
    fingerprint_report,
    fingerprint_source_item,
    problem_classes,
    problem_signature,
)
from hypercare_domain.normalize.guard import InputLimits, Rejected, decode_payload
from hypercare_domain.normalize.pipeline import normalize, normalize_bytes
from hypercare_domain.normalize.redact import luhn_valid, redact
from hypercare_domain.normalize.text import guess_language

__all__ = [
    "UNKNOWN",
    "ComponentMap",
    "ComponentPolicy",
    "ComponentRule",
    "InputLimits",
    "Rejected",
    "decode_payload",
    "detect_format",
    "fingerprint_alert",
    "fingerprint_report",
    "fingerprint_source_item",
    "guess_language",
    "load_component_map",
    "luhn_valid",
    "normalize",
    "normalize_bytes",
    "parse_raw",
    "problem_classes",
    "problem_signature",
    "redact",
    "source_of",
]
