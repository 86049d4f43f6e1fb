"""Triage policy files: loading, validation, documentation of every key; text helpers and sentiment."""

import re
import shutil
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_domain.policy import PolicyError, PolicyModel, default_policy_dir
from hypercare_domain.triage import (
    RoutesPolicy,
    SuppressionPolicy,
    TriagePolicy,
    load_triage_policies,
    sentiment,
)
from hypercare_domain.triage.text import find_phrase, signature

from tests.unit.triage_factories import shipped_policies

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "triage-policy.md"


def _keys(model: type[PolicyModel]) -> set[str]:
    """Every field name of ``model`` and of the policy models nested in it."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        found.add(name)
        stack: list[Any] = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, PolicyModel):
                found |= _keys(annotation)
            stack.extend(typing.get_args(annotation))
    return found


@pytest.mark.parametrize("model", [TriagePolicy, RoutesPolicy, SuppressionPolicy])
def test_every_policy_key_is_documented(model: type[PolicyModel]) -> None:
    table_keys = re.findall(r"^\| `([^`]+)`", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    documented = {segment for key in table_keys for segment in re.split(r"[.\[\]]+", key)}

    missing = sorted(_keys(model) - documented)

    assert missing == []


def test_shipped_policies_load() -> None:
    policies = shipped_policies()

    assert policies.triage.core_components == ["checkout", "payments", "login"]
    assert {"blocked", "data_loss", "charged_twice", "security", "degraded", "cosmetic"} <= set(
        policies.triage.phrase_groups
    )
    assert policies.routes.default.name == "support-triage"
    assert policies.triage.grouping.reopen_window_minutes == 30
    assert policies.triage.grouping.absorb_max_age_hours == 24


def _copy_with(tmp_path: Path, name: str, change: dict[str, Any]) -> Path:
    for file in ("triage.yaml", "routes.yaml", "suppression.yaml"):
        shutil.copy(default_policy_dir() / file, tmp_path / file)
    data = yaml.safe_load((tmp_path / name).read_text(encoding="utf-8"))
    data.update(change)
    (tmp_path / name).write_text(yaml.safe_dump(data), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "triage.yaml",
            {"impact": {"weights": {"reach": 0.9, "financial": 0.3, "reputational": 0.2}}},
            "sum to 1",
        ),
        (
            "triage.yaml",
            {
                "reach_rules": [
                    {
                        "name": "r",
                        "severity": "critical",
                        "requires_groups": ["nope"],
                        "min_distinct_reporters": 3,
                    }
                ]
            },
            "unknown phrase groups",
        ),
        ("triage.yaml", {"reach_rules": [{"name": "r", "severity": "critical"}]}, "exactly one"),
        ("triage.yaml", {"severity_points": {"medium": 50, "high": 40, "critical": 90}}, "must increase"),
        ("triage.yaml", {"core_componnets": ["checkout"]}, "core_componnets"),
        ("routes.yaml", {"default": {"name": "d", "team": "t"}}, "default.escalation_policy"),
        ("suppression.yaml", {"silences": [{"name": "s", "match": {}}]}, "empty matcher"),
    ],
)
def test_invalid_policy_names_file_and_field(
    tmp_path: Path, name: str, change: dict[str, Any], message: str
) -> None:
    folder = _copy_with(tmp_path, name, change)

    with pytest.raises(PolicyError, match=message) as raised:
        load_triage_policies(folder)

    assert name in str(raised.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"triage\.yaml is missing"):
        load_triage_policies(tmp_path)


@pytest.mark.parametrize(
    ("text", "phrases", "found"),
    [
        ("I CAN\u2019T   log in since this morning", ("can't log in",), "can't log in"),
        ("The app CRASHES on start", ("crashes",), "crashes"),
        ("Outages happen", ("outage",), None),
        ("Bestellung doppelt abgebucht!", ("doppelt abgebucht",), "doppelt abgebucht"),
        ("Ça ne fonctionne pas", ("ne fonctionne pas",), "ne fonctionne pas"),
        ("checkout-slowness", ("slow",), None),
    ],
)
def test_phrases_match_case_insensitively_on_word_boundaries(
    text: str, phrases: tuple[str, ...], found: str | None
) -> None:
    assert find_phrase(text, phrases) == found


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Payment failed at checkout", "I can't pay at the checkout!!"),
        ("Kasse funktioniert nicht, kann nicht bezahlen", "checkout not working, cannot pay"),
        ("Charged twice for my order", "zweimal abgebucht - order"),
    ],
)
def test_signature_folds_paraphrases_and_languages(left: str, right: str) -> None:
    assert signature(left) == signature(right)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("Checkout is broken and I was charged twice!!! Terrible.", -1.0, -0.5),
        ("Love the new app, great job :)", 0.5, 1.0),
        ("", 0.0, 0.0),
        ("Order 1234 shipped", -0.1, 0.1),
    ],
)
def test_sentiment_range(text: str, low: float, high: float) -> None:
    assert low <= sentiment(text) <= high
