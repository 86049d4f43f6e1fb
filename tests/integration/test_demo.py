"""`hypercare demo` against the real broker, on per-test topics, with the test playing the pipeline."""

import asyncio
import json
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_cli.scenario.script import build_scenario
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
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    InAppFeedback,
    PagerDutyEvent,
    SocialMention,
    ZendeskTicketEvent,
)
from hypercare_contracts.topics import (
    DEADLETTER,
    ISSUES_TRIAGED,
    NOTIFICATIONS,
    RAW_ALERTS,
    RAW_FEEDBACK,
    RAW_SOCIAL,
    RAW_TICKETS,
    SLA_EVENTS,
)
from pydantic import BaseModel, ValidationError

from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, Received

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
ROLES = {
    RAW_ALERTS: "alerts",
    RAW_TICKETS: "tickets",
    RAW_FEEDBACK: "feedback",
    RAW_SOCIAL: "social",
    ISSUES_TRIAGED: "triaged",
    SLA_EVENTS: "sla",
    NOTIFICATIONS: "notifications",
    DEADLETTER: "deadletter",
}
RAW_MODELS: dict[str, tuple[type[BaseModel], ...]] = {
    RAW_ALERTS: (AlertmanagerWebhook, PagerDutyEvent),
    RAW_TICKETS: (ZendeskTicketEvent, GenericTicket),
    RAW_FEEDBACK: (InAppFeedback,),
    RAW_SOCIAL: (SocialMention,),
}


def decision(issue_id: str, version: int, severity: Severity, **overrides: Any) -> TriagedIssue:
    fields: dict[str, Any] = {
        "decision_id": f"{issue_id}:{version}",
        "decision": Decision.CREATED if version == 1 else Decision.RAISED,
        "issue_id": issue_id,
        "version": version,
        "title": f"issue {issue_id}",
        "component": "checkout",
        "environment": "production",
        "status": IssueStatus.OPEN,
        "severity": severity,
        "impact": Impact(score=50, reach=50, financial=50, reputational=50),
        "breakdown": [],
        "route": Route(name="payments", team="payments-team", escalation_policy="p", channels=["console"]),
        "occurrences": version,
        "distinct_reporters": version,
        "merged_by": MergeRule.NEW,
        "sources": [Source.TICKETS],
        "first_seen": NOW,
        "last_seen": NOW,
        "decided_at": NOW,
        "notify": True,
    }
    fields.update(overrides)
    return TriagedIssue(**fields)


def notification(channel: str, outcome: DeliveryOutcome) -> NotificationRecord:
    return NotificationRecord(
        idempotency_key=uuid.uuid4().hex,
        issue_id="checkout",
        trigger_id="checkout:2",
        channel=channel,
        route="payments",
        outcome=outcome,
        attempt=1,
        at=NOW,
    )


def sla_event(kind: SlaEventKind) -> SlaEvent:
    return SlaEvent(
        event_id=uuid.uuid4().hex,
        kind=kind,
        issue_id="checkout",
        severity=Severity.CRITICAL,
        route="payments",
        due_at=NOW,
        emitted_at=NOW,
        business_elapsed_seconds=1,
        policy="critical",
    )


def dead_letter(error_class: ErrorClass) -> DeadLetter:
    return DeadLetter(
        service="normalizer",
        source_topic=RAW_FEEDBACK,
        error_class=error_class,
        reason="test",
        original="{",
        original_size=1,
        failed_at=NOW,
    )


def parses_as_one_of(models: tuple[type[BaseModel], ...], value: bytes) -> bool:
    for model in models:
        try:
            model.model_validate_json(value)
        except ValidationError:
            continue
        return True
    return False


async def test_demo_lands_every_message_on_its_raw_topic_and_counts_only_its_own_run(
    kafka: KafkaTestKit, endpoints: Endpoints
) -> None:
    names = await kafka.topics(*ROLES.values(), partitions=2)
    actual = {topic: names[role] for topic, role in ROLES.items()}
    raw_topics = [actual[t] for t in RAW_MODELS]
    # Records from before the run: the summary must not count them.
    await kafka.send(actual[ISSUES_TRIAGED], decision("old", 1, Severity.LOW).model_dump_json())
    await kafka.send(actual[DEADLETTER], dead_letter(ErrorClass.SCHEMA_VIOLATION).model_dump_json())

    run_id = f"it-{uuid.uuid4().hex[:8]}"
    command = [
        *("-m", "hypercare_cli.main", "demo", "--json", "--seed", "11", "--run-id", run_id),
        *(
            "--bootstrap",
            endpoints.kafka_bootstrap,
            "--speed",
            "15",
            "--settle",
            "1.5",
            "--drain-timeout",
            "30",
        ),
        *("--group-prefix", f"no-such-group-{uuid.uuid4().hex}-"),
        *(f"--topic={topic}={name}" for topic, name in actual.items()),
    ]
    demo = await asyncio.create_subprocess_exec(
        sys.executable, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        # Play the pipeline: once the demo is sending, write what the services would write.
        assert await kafka.collect(raw_topics, count=1, timeout=30), "the demo sent nothing"
        outputs: dict[str, list[BaseModel]] = {
            ISSUES_TRIAGED: [
                decision("checkout", 1, Severity.HIGH),
                decision("checkout", 2, Severity.CRITICAL),
                decision("praise", 1, Severity.LOW),
            ],
            SLA_EVENTS: [sla_event(SlaEventKind.AT_RISK)],
            NOTIFICATIONS: [
                notification("console", DeliveryOutcome.SENT),
                notification("console", DeliveryOutcome.SENT),
                notification("slack-payments", DeliveryOutcome.FAILED),
            ],
            DEADLETTER: [dead_letter(ErrorClass.INVALID_JSON), dead_letter(ErrorClass.OVERSIZE)],
        }
        for topic, written in outputs.items():
            for output in written:
                await kafka.send(actual[topic], output.model_dump_json())
        stdout, stderr = await asyncio.wait_for(demo.communicate(), timeout=120)
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    assert demo.returncode == 0, stderr.decode()
    summary = json.loads(stdout)

    expected = build_scenario(seed=11, started_at=NOW, run_id=run_id, speed=15).messages
    received: list[Received] = await kafka.collect(raw_topics, count=len(expected), timeout=30, settle=1.0)
    assert Counter((r.topic, r.key.decode() if r.key else None) for r in received) == Counter(
        (actual[m.topic], m.key) for m in expected
    )
    topic_of = {name: topic for topic, name in actual.items()}
    for record in received:
        models = RAW_MODELS[topic_of[record.topic]]
        assert parses_as_one_of(models, record.value) or record.key is None, record.value[:200]
    assert sum(1 for r in received if not parses_as_one_of(RAW_MODELS[topic_of[r.topic]], r.value)) == 1

    by_source = Counter(ROLES[topic_of[r.topic]] for r in received)
    assert summary["sent_by_source"] == dict(by_source)
    assert summary["sent_total"] == len(received)
    assert summary["deliberately_bad"] == 2
    assert summary["decisions_by_kind"] == {"created": 2, "raised": 1}
    assert summary["issues_by_severity"] == {"critical": 1, "low": 1}
    assert summary["notifications_by_outcome"] == {"sent": 2, "failed": 1}
    assert summary["notifications_by_channel"] == {"console": 2, "slack-payments": 1}
    assert summary["sla_events_by_kind"] == {"at_risk": 1}
    assert summary["dead_letters_by_reason"] == {"invalid_json": 1, "oversize": 1}
    assert summary["drained"] is True
    progress = stderr.decode()
    assert "checkout incident begins" in progress
    assert "deliberately bad" in progress
