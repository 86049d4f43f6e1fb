"""PII redaction: e-mails, phones, cards and IBANs go; order numbers and dates stay."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_contracts.normalized import TEXT_MAX
from hypercare_domain.normalize import luhn_valid, normalize, redact

from tests.factories.policy import shipped_component_map
from tests.factories.raw import make_feedback, make_pagerduty

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


RECEIVED = datetime(2024, 5, 2, 10, 10, tzinfo=UTC)
PII = ("jane@example.com", "4111 1111 1111 1111", "+49 30 1234567", "DE89 3704 0044 0532 0130 00")


def test_no_personal_data_leaves_in_any_report_field() -> None:
    mixed = "jane@example.com pays with 4111 1111 1111 1111, call +49 30 1234567, DE89 3704 0044 0532 0130 00"
    payload = make_pagerduty(
        links=[{"href": "https://crm.example.com/c/1", "text": f"Customer {mixed}"}],
        payload={
            **make_pagerduty()["payload"],
            "summary": f"Checkout failed for {mixed}",
            "custom_details": {"customer": mixed, "users_affected": 1},
        },
    )
    report = normalize(
        "hypercare.raw.alerts",
        payload,
        received_at=RECEIVED,
        trace_id="t",
        components=shipped_component_map(),
    )[0]
    dumped = report.model_dump_json()
    for secret in PII:
        assert secret not in dumped
    assert report.title == "Checkout failed for [email] pays with [card], call [phone], [iban]"
    assert report.labels["details.customer"].startswith("[email]")
    assert report.links[0].text.startswith("Customer [email]")


def test_a_card_number_across_the_text_limit_is_not_leaked_in_part() -> None:
    text = "x " * ((TEXT_MAX - 10) // 2) + "4111 1111 1111 1111 " + "y " * 5000
    report = normalize(
        "hypercare.raw.feedback",
        make_feedback(text=text),
        received_at=RECEIVED,
        trace_id="t",
        components=shipped_component_map(),
    )[0]
    assert "4111" not in report.text
    assert "[card]" in report.text
    assert len(report.text) <= TEXT_MAX


def test_redacting_a_hostile_maximum_size_text_is_fast() -> None:
    hostile = ("+" + "1" * 40 + " " + "4111 " * 30 + "0" + "1 " * 40) * 800
    started = time.perf_counter()
    redact(hostile[: 256 * 1024])
    assert time.perf_counter() - started < 2.0
