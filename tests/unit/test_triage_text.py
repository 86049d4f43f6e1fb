"""Triage text helpers and remembered policy lookups: the shortcuts give what the plain computation gives."""

import unicodedata

import pytest
from hypercare_contracts import Severity, Source
from hypercare_domain.triage import RoutesPolicy, route_for
from hypercare_domain.triage.policy import PointsStep, points_for
from hypercare_domain.triage.text import FoldedText, fold, folded_signature, signature

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})


def _reference_fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).lower().split())


@pytest.mark.parametrize(
    "text",
    [
        "Checkout  is\tBROKEN `again`",
        "It\u2019s down \u2018again\u2019 \u00b4",
        "\uff23heckout \ufb01le caf\u00e9 cafe\u0301",
        "\u0130stanbul stra\u00dfe \u01c5",
        "",
    ],
)
def test_fold_matches_normalize_then_translate(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@pytest.mark.parametrize(
    "text",
    [
        "Checkout broken, payment failed!",
        "my card was charged twice at checkout",
        "app crashes on startup (ios 17.4)",
        "Kann nicht bezahlen: Fehler 502",
        "the the the",
    ],
)
def test_signature_shortcut_matches_full_tokenising(text: str) -> None:
    # A lone quote becomes an empty token, which is dropped: the same signature, by the full path.
    assert signature(text) == signature(f"{text} '")
    assert folded_signature(FoldedText.of(text)) == signature(text)


def test_points_for_keeps_the_first_of_equal_steps() -> None:
    ladder = [PointsStep(at=5, points=1), PointsStep(at=10, points=2), PointsStep(at=10, points=3)]
    assert points_for(4, ladder) is None
    assert points_for(7, ladder) is ladder[0]
    assert points_for(12, ladder) is ladder[1]


def test_route_lookups_are_told_apart_by_labels_and_severity() -> None:
    policy = RoutesPolicy.model_validate(
        {
            "rules": [
                {"name": "data", "labels": {"team": "data"}, "team": "d", "escalation_policy": "e"},
                {"name": "loud", "min_severity": "high", "team": "l", "escalation_policy": "e"},
            ],
            "default": {"name": "default", "team": "t", "escalation_policy": "e"},
        }
    )
    for _ in range(2):  # the second round is answered from what the first remembered
        assert route_for("x", Source.TICKETS, {"team": "data"}, Severity.LOW, policy).name == "data"
        assert route_for("x", Source.TICKETS, {}, Severity.LOW, policy).name == "default"
        assert route_for("x", Source.TICKETS, {}, Severity.HIGH, policy).name == "loud"
