"""The shipped normalizer and triage domain, fed the demo's messages, tell the story the demo promises."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pytest
from hypercare_cli.scenario.script import build_scenario
from hypercare_cli.scenario.summary import latest_decisions
from hypercare_contracts import ErrorClass, IssueStatus, Severity, TriagedIssue
from hypercare_domain.normalize import ComponentMap, Rejected, load_component_map, normalize_bytes
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import InMemoryIssues, TriagePolicies, load_triage_policies, triage_batch

pytestmark = pytest.mark.unit

START = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
"""A Wednesday noon (UTC), outside the shipped weekly deploy slot that silences alerts."""


@dataclass(frozen=True)
class Outcome:
    """What the domain made of a played scenario: every decision and every refusal."""

    decisions: list[TriagedIssue]
    refused: list[ErrorClass]

    def issues(self) -> list[TriagedIssue]:
        return latest_decisions(self.decisions)

    def issue_titled(self, text: str) -> TriagedIssue:
        return next(i for i in self.issues() if text in i.title)


@lru_cache(maxsize=1)
def shipped() -> tuple[ComponentMap, TriagePolicies]:
    return load_component_map(default_policy_dir()), load_triage_policies(default_policy_dir())


def run_story(seed: int) -> Outcome:
    """Normalize and triage the messages one at a time, at their send times, as the services would."""
    components, policies = shipped()
    store = InMemoryIssues()
    outcome = Outcome(decisions=[], refused=[])
    for n, message in enumerate(build_scenario(seed=seed, started_at=START, run_id="story").messages):
        at = START + timedelta(seconds=message.at)
        try:
            reports = normalize_bytes(
                message.topic, message.value, received_at=at, trace_id=f"t{n}", components=components
            )
        except Rejected as refused:
            outcome.refused.append(refused.error_class)
            continue
        for report in reports:
            result = triage_batch([report], store, policies, at)
            store.apply(result)
            outcome.decisions.extend(result.decisions)
    return outcome


@pytest.fixture(params=[7, 3], ids=["seed7", "seed3"], scope="module")
def story(request: pytest.FixtureRequest) -> Outcome:
    seed: int = request.param
    return run_story(seed)


def test_only_the_two_deliberately_bad_messages_are_refused(story: Outcome) -> None:
    assert story.refused == [ErrorClass.INVALID_JSON, ErrorClass.OVERSIZE]


def test_the_complaint_flood_becomes_a_critical_checkout_issue(story: Outcome) -> None:
    checkout = [i for i in story.issues() if i.component == "checkout" and i.severity is Severity.CRITICAL]
    assert max(i.occurrences for i in checkout) >= 10
    assert {i.route.name for i in checkout} == {"payments-urgent"}


def test_the_checkout_alert_opens_critical_and_ends_resolved(story: Outcome) -> None:
    alert = story.issue_titled("Checkout error rate")
    assert alert.severity is Severity.CRITICAL
    assert alert.status is IssueStatus.RESOLVED


def test_double_charges_are_a_critical_payments_issue(story: Outcome) -> None:
    payments = [i for i in story.issues() if i.component == "payments"]
    assert [i.severity for i in payments] == [Severity.CRITICAL]


def test_the_login_latency_alert_is_seen_flapping(story: Outcome) -> None:
    login = story.issue_titled("Login p95 latency")
    assert login.component == "login"
    assert login.flap_count >= 3


def test_praise_and_questions_stay_low(story: Outcome) -> None:
    quiet = [i for i in story.issues() if i.component not in {"checkout", "payments", "login"}]
    assert quiet
    assert {i.severity for i in quiet} == {Severity.LOW}
