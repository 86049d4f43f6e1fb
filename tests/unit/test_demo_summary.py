"""The demo summary: what a user reads at the end of `make run` (and gets with --json)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_cli.scenario.model import Message
from hypercare_cli.scenario.summary import Readback, latest_decisions, render_text, summarize, summary_json
from hypercare_contracts import (
    DeadLetter,
    Decision,
    DeliveryOutcome,
    Impact,
    IssueStatus,
    MergeRule,
    NotificationRecord,
    Route,
    Severity,
    SlaEvent,
    SlaEventKind,
    Source,
    TriagedIssue,
)
from hypercare_contracts.deadletter import ErrorClass
from hypercare_contracts.topics import RAW_ALERTS, RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
METRICS = {"triage": "http://127.0.0.1:9102/metrics"}


def make_decision(**overrides: Any) -> TriagedIssue:
    """A 'created' decision on a checkout issue; any field can be overridden."""
    version = overrides.get("version", 1)
    fields: dict[str, Any] = {
        "decision_id": f"{overrides.get('issue_id', 'iss-1')}:{version}",
        "decision": Decision.CREATED,
        "issue_id": "iss-1",
        "version": version,
        "title": "Checkout fails with error 500",
        "component": "checkout",
        "environment": "production",
        "status": IssueStatus.OPEN,
        "severity": Severity.HIGH,
        "impact": Impact(score=40, reach=30, financial=50, reputational=20),
        "breakdown": [],
        "route": Route(
            name="payments-urgent", team="payments-team", escalation_policy="p", channels=["console"]
        ),
        "occurrences": 1,
        "distinct_reporters": 1,
        "merged_by": MergeRule.NEW,
        "sources": [Source.TICKETS],
        "first_seen": T0,
        "last_seen": T0,
        "decided_at": T0 + timedelta(seconds=version),
        "notify": True,
    }
    fields.update(overrides)
    return TriagedIssue(**fields)


def make_notification(**overrides: Any) -> NotificationRecord:
    fields: dict[str, Any] = {
        "idempotency_key": "k",
        "issue_id": "iss-1",
        "trigger_id": "iss-1:1",
        "channel": "console",
        "route": "payments-urgent",
        "outcome": DeliveryOutcome.SENT,
        "attempt": 1,
        "at": T0,
    }
    fields.update(overrides)
    return NotificationRecord(**fields)


def make_sla_event(**overrides: Any) -> SlaEvent:
    fields: dict[str, Any] = {
        "event_id": "e",
        "kind": SlaEventKind.AT_RISK,
        "issue_id": "iss-1",
        "severity": Severity.CRITICAL,
        "route": "payments-urgent",
        "due_at": T0,
        "emitted_at": T0,
        "business_elapsed_seconds": 10,
        "policy": "critical",
    }
    fields.update(overrides)
    return SlaEvent(**fields)


def make_dead_letter(**overrides: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "service": "normalizer",
        "source_topic": RAW_FEEDBACK,
        "error_class": ErrorClass.INVALID_JSON,
        "reason": "not JSON",
        "original": "{",
        "original_size": 1,
        "failed_at": T0,
    }
    fields.update(overrides)
    return DeadLetter(**fields)


def make_message(topic: str, *, bad: bool = False) -> Message:
    return Message(0.0, topic, None, b"{}", "feedback", "/v1/feedback", deliberately_bad=bad)


def test_issues_count_by_the_severity_of_their_last_decision() -> None:
    decisions = [
        make_decision(issue_id="checkout", version=1, severity=Severity.HIGH),
        make_decision(issue_id="checkout", version=3, severity=Severity.CRITICAL, decision=Decision.RAISED),
        make_decision(
            issue_id="checkout",
            version=4,
            severity=Severity.CRITICAL,
            decision=Decision.RESOLVED,
            status=IssueStatus.RESOLVED,
        ),
        make_decision(issue_id="checkout", version=2, severity=Severity.MEDIUM, decision=Decision.UPDATED),
        make_decision(issue_id="praise", severity=Severity.LOW),
        make_decision(issue_id="login", severity=Severity.MEDIUM, decision=Decision.SUPPRESSED),
    ]
    summary = summarize(
        run_id="r", seed=1, sent=[], readback=Readback(triaged=decisions), drained=True, waited_seconds=1
    )
    assert summary.issues_by_severity == {"critical": 1, "medium": 1, "low": 1}
    assert summary.issues_by_status == {"open": 2, "resolved": 1}
    assert summary.decisions_by_kind == {
        "created": 2,
        "updated": 1,
        "raised": 1,
        "resolved": 1,
        "suppressed": 1,
    }
    assert [line.issue_id for line in summary.issues] == ["checkout", "login", "praise"]


def test_latest_decision_breaks_version_ties_by_decision_time() -> None:
    early = make_decision(version=2, decided_at=T0, severity=Severity.LOW)
    late = make_decision(version=2, decided_at=T0 + timedelta(seconds=5), severity=Severity.HIGH)
    assert latest_decisions([late, early]) == [late]


def test_sent_reports_count_by_source_and_deliberately_bad_ones_separately() -> None:
    sent = [
        make_message(RAW_TICKETS),
        make_message(RAW_TICKETS),
        make_message(RAW_ALERTS),
        make_message(RAW_FEEDBACK, bad=True),
        make_message(RAW_SOCIAL, bad=True),
    ]
    summary = summarize(
        run_id="r",
        seed=1,
        sent=sent,
        readback=Readback(),
        gateway_rejections={"HTTP 413": 1},
        drained=True,
        waited_seconds=0,
    )
    assert summary.sent_by_source == {"tickets": 2, "feedback": 1, "social": 1, "alerts": 1}
    assert (summary.sent_total, summary.deliberately_bad) == (5, 2)
    assert summary.gateway_rejections == {"HTTP 413": 1}


def test_notifications_sla_events_and_dead_letters_are_counted_by_kind() -> None:
    readback = Readback(
        notifications=[
            make_notification(),
            make_notification(channel="slack-payments", outcome=DeliveryOutcome.FAILED),
            make_notification(channel="slack-payments", outcome=DeliveryOutcome.RETRIED),
            make_notification(channel="console", outcome=DeliveryOutcome.DIGESTED),
        ],
        sla_events=[make_sla_event(), make_sla_event(kind=SlaEventKind.BREACHED), make_sla_event()],
        dead_letters=[make_dead_letter(), make_dead_letter(error_class=ErrorClass.OVERSIZE)],
        unreadable={"hypercare.notifications": 2},
    )
    summary = summarize(run_id="r", seed=1, sent=[], readback=readback, drained=False, waited_seconds=60)
    assert summary.notifications_by_outcome == {"sent": 1, "retried": 1, "failed": 1, "digested": 1}
    assert summary.notifications_by_channel == {"console": 2, "slack-payments": 2}
    assert summary.sla_events_by_kind == {"at_risk": 2, "breached": 1}
    assert summary.dead_letters_by_reason == {"invalid_json": 1, "oversize": 1}
    assert summary.unreadable == {"hypercare.notifications": 2}


def test_the_text_summary_shows_every_section_and_the_metrics_urls() -> None:
    readback = Readback(
        triaged=[make_decision(severity=Severity.CRITICAL, occurrences=35)],
        notifications=[make_notification()],
        dead_letters=[make_dead_letter()],
    )
    summary = summarize(
        run_id="r1",
        seed=7,
        sent=[make_message(RAW_TICKETS)],
        readback=readback,
        drained=True,
        waited_seconds=3,
    )
    text = render_text(summary, METRICS, dashboards=["deploy/grafana/"])
    assert "run r1, seed 7" in text
    assert "reports sent        1: tickets 1 (0 deliberately bad)" in text
    assert "issues              1: critical 1 | open 1" in text
    assert (
        "[critical] open         checkout   Checkout fails with error 500 (35 reports, route payments-urgent)"
        in text
    )
    assert "notifications       1: sent 1 | by channel: console 1" in text
    assert "SLA events          0: none" in text
    assert "dead letters        1: invalid_json 1" in text
    assert "drained after waiting 3.0s" in text
    assert "http://127.0.0.1:9102/metrics" in text
    assert "deploy/grafana/" in text


def test_an_undrained_run_says_so() -> None:
    summary = summarize(run_id="r", seed=1, sent=[], readback=Readback(), drained=False, waited_seconds=60)
    assert "NOT drained" in render_text(summary, {})


def test_the_json_summary_round_trips_with_the_same_counts() -> None:
    readback = Readback(
        triaged=[make_decision(severity=Severity.CRITICAL)], notifications=[make_notification()]
    )
    summary = summarize(
        run_id="r", seed=1, sent=[make_message(RAW_ALERTS)], readback=readback, drained=True, waited_seconds=2
    )
    data = json.loads(json.dumps(summary_json(summary, METRICS)))
    assert data["sent_by_source"] == {"alerts": 1}
    assert data["issues_by_severity"] == {"critical": 1}
    assert data["issues"][0]["title"] == "Checkout fails with error 500"
    assert data["notifications_by_channel"] == {"console": 1}
    assert data["metrics"] == METRICS
    assert data["drained"] is True
