"""Severity and impact of the shipped triage policy, table-driven from data/triage/severity_cases.yaml."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypercare_contracts import Decision, Severity, TriagedIssue
from hypercare_domain.triage import assess, written_breakdown

from tests.unit.triage_factories import make_alert, make_report, run, shipped_policies

pytestmark = pytest.mark.unit

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "triage" / "severity_cases.yaml").read_text(encoding="utf-8")
)


def _reports(case: dict[str, Any]) -> list[Any]:
    factory = make_alert if case.get("alert") else make_report
    reports = []
    for i in range(case.get("repeat", 1)):
        fields = {**case["report"], "minutes": i * case.get("every_minutes", 0)}
        fields.setdefault("fingerprint", f"case:{case['id']}")
        reports.append(factory(**fields))
    return reports


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_shipped_severity_semantics(case: dict[str, Any]) -> None:
    decisions, store = run(_reports(case))

    (issue,) = store.all()
    assert issue.severity == Severity(case["expect"]), [item.reason for item in issue.breakdown]
    assert decisions[-1].severity == Severity(case["expect"])


def _only(decisions: list[TriagedIssue], kind: Decision) -> list[TriagedIssue]:
    return [decision for decision in decisions if decision.decision is kind]


def test_one_failing_checkout_is_high_and_ten_reporters_in_fifteen_minutes_raise_it_to_critical() -> None:
    reports = [
        make_report(title="Checkout fails, can't pay", minutes=i * 1.5, fingerprint="checkout:fail")
        for i in range(10)
    ]

    decisions, _ = run(reports)

    created = _only(decisions, Decision.CREATED)
    raised = _only(decisions, Decision.RAISED)
    assert [d.severity for d in created] == [Severity.HIGH]
    assert len(raised) == 1
    assert raised[0].severity is Severity.CRITICAL
    assert raised[0].previous_severity is Severity.HIGH
    assert raised[0].distinct_reporters == 10
    assert raised[0].notify is True
    assert raised[0].event_id == reports[-1].event_id
    assert any(
        item.rule == "severity.reach.core_blocked_many_reporters" and "10 distinct reporters" in item.reason
        for item in raised[0].breakdown
    )


def test_severity_does_not_drop_when_the_rate_window_passes() -> None:
    reports = [make_report(minutes=i, fingerprint="checkout:fail") for i in range(10)]
    reports.append(make_report(minutes=120, fingerprint="checkout:fail"))

    decisions, store = run(reports)

    (issue,) = store.all()
    assert issue.severity is Severity.CRITICAL
    # The last report published nothing: the stored state's breakdown is written out on demand.
    assert issue.breakdown == ()
    assert any(item.rule == "severity.held" for item in written_breakdown(issue, shipped_policies()))
    ranks = [d.severity.rank for d in decisions]
    assert ranks == sorted(ranks), "no decision lowered the severity"


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("severity.phrase.charged_twice", "'charged twice' (double charging) on core component checkout"),
        ("severity.tier.enterprise", "enterprise customer reported it failing: at least high"),
        ("impact.financial.money_moved", "money involved: 'charged twice'"),
        ("impact.financial.core_component", "checkout is a core function"),
        ("severity", "critical: "),
    ],
)
def test_breakdown_explains_each_contribution(rule: str, fragment: str) -> None:
    report = make_report(title="I was charged twice", reporter={"tier": "enterprise"})
    _, store = run([report])

    (issue,) = store.all()
    reasons = {item.rule: item.reason for item in issue.breakdown}
    assert fragment in reasons[rule]


def test_impact_grows_with_reach_and_stays_within_bounds() -> None:
    one, _ = run([make_report(fingerprint="reach:one")])
    many, _ = run([make_report(fingerprint="reach:many", minutes=i) for i in range(60)])

    small, large = one[-1].impact, many[-1].impact
    assert 0 <= small.score < large.score <= 100
    assert large.reach > small.reach
    assert large.financial >= small.financial > 0  # core component, revenue per affected user


def test_reputational_impact_of_a_loud_negative_post() -> None:
    post = make_report(
        title="Checkout at @shop is a disaster, worst experience ever",
        source="social",
        source_format="social",
        reporter={"kind": "social_account", "tier": None, "followers": 250_000, "verified": True},
        signals={"engagement": 900},
        fingerprint="social:checkout",
    )
    quiet = make_report(fingerprint="quiet:checkout")

    loud, _ = run([post])
    calm, _ = run([quiet])

    assert loud[-1].impact.reputational > 50
    assert loud[-1].impact.reputational > calm[-1].impact.reputational + 30


def test_assess_is_pure_and_repeatable() -> None:
    _, store = run([make_report(title="Payments are very slow", component="payments", fingerprint="p:slow")])
    (issue,) = store.all()
    policy = shipped_policies().triage

    first = assess(issue, policy, issue.last_seen)
    second = assess(issue, policy, issue.last_seen)

    assert first == second
    assert first.severity is Severity.HIGH
