"""Problem signatures and report fingerprints: robust to wording, sensitive to the problem."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_domain.normalize import fingerprint_alert, fingerprint_report, problem_signature

pytestmark = pytest.mark.unit

GROUPS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "normalize" / "signatures.yaml").read_text(encoding="utf-8")
)
WORDINGS = [(group["signature"], text) for group in GROUPS for text in group["wordings"]]


@pytest.mark.parametrize(("signature", "text"), WORDINGS, ids=[f"{s}:{t[:30]}" for s, t in WORDINGS])
def test_problem_signature_table(signature: str, text: str) -> None:
    assert problem_signature(text) == signature


def test_wordings_of_checkout_fails_share_a_fingerprint() -> None:
    wordings = [
        "Checkout is broken",
        "can't complete checkout!!",
        "checkout keeps failing",
        "chekout doesnt work",
    ]
    assert len({fingerprint_report("checkout", text) for text in wordings}) == 1


def test_a_different_problem_or_component_gives_a_different_fingerprint() -> None:
    fails = fingerprint_report("checkout", "Checkout is broken")
    assert fingerprint_report("checkout", "checkout is slow") != fails
    assert fingerprint_report("payments", "Checkout is broken") != fails


def test_report_and_alert_fingerprints_never_collide() -> None:
    assert fingerprint_report("checkout", "other") != fingerprint_alert("other", "checkout", "production")


def test_fingerprints_are_twenty_hex_digits() -> None:
    for value in (fingerprint_report("checkout", "x"), fingerprint_alert("A", "checkout", "production")):
        assert len(value) == 20
        int(value, 16)
