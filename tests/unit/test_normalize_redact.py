"""PII redaction: e-mails, phones, cards and IBANs go; order numbers and dates stay."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_domain.normalize import luhn_valid, redact

pytestmark = pytest.mark.unit

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "normalize" / "redaction.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_redaction_table(case: dict[str, Any]) -> None:
    assert redact(case["text"]) == case["expected"]


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_redaction_is_idempotent() -> None:
    once = redact(" ".join(case["text"] for case in CASES))
    assert redact(once) == once


def test_empty_text_stays_empty() -> None:
    assert redact("") == ""
