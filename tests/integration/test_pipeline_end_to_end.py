"""The whole pipeline on the real broker, database and cache: one checkout incident from raw events to resolved.

Normalizer, triage, SLA and notifier run together on per-test topics with the seconds-scale policy of
``tests/data/policy-fast`` (critical: escalation steps at 1.5s, 3s and 5s, a reminder every 4s, response due
at 6s and at risk at 4.5s), their checkout routes delivering to the console and a signed webhook here.
"""

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypercare_contracts import (
    DeadLetter,
    Decision,
    DeliveryOutcome,
    IssueStatus,
    LifecycleAction,
    MergeRule,
    NotificationRecord,
    Severity,
    SlaEvent,
    SlaEventKind,
    SlaTarget,
    TriagedIssue,
    Via,
)
from hypercare_domain.notify.signing import verify_webhook

from tests.factories.raw import make_alertmanager, make_am_alert, make_feedback, make_social, make_zendesk
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.pipeline import (
    API_AUTH,
    API_USER,
    SECRET_ENV,
    TOPICS,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Pipeline,
    RunningPipeline,
    TopicTap,
    decisions,
    fetch,
    lifecycle_events,
    metric_values,
    pipeline_policy_dir,
    run_pipeline,
    seconds_after,
    sla_events,
    stays_quiet,
    topic_tap,
)
from tests.support.receivers import HttpReceiver, Reply, Request, http_receiver

pytestmark = pytest.mark.integration

ON_TIME = 2.0
"""Every SLA event must go out within this many seconds of its due instant."""
STEP = 20.0
"""Deadline of each wait for something the pipeline does at once (not an SLA instant)."""
RESOLVE_DEADLINE = 10.0
"""How long the resolved alert has to resolve the issue (it takes well under a second when it does)."""

# (kind, target, seconds after the issue opened) of a critical issue nobody acknowledges, per policy-fast.
UNACKNOWLEDGED = [
    (SlaEventKind.ESCALATION, None, 1.5),
    (SlaEventKind.ESCALATION, None, 3.0),
    (SlaEventKind.RENOTIFY, None, 4.0),
    (SlaEventKind.AT_RISK, SlaTarget.RESPONSE, 4.5),
    (SlaEventKind.ESCALATION, None, 5.0),
    (SlaEventKind.BREACHED, SlaTarget.RESPONSE, 6.0),
]
NEXT_REMINDER = 8.0
"""The second re-notification would fall due here, had nobody acknowledged."""

CHECKOUT_LABELS = {**make_am_alert()["labels"], "service": "checkout"}


def checkout_alert(status: str = "firing") -> dict[str, Any]:
    """The Alertmanager v4 message of the critical CheckoutErrorRateHigh alert on ``service: checkout``."""
    ends = "2024-05-02T10:30:00Z" if status == "resolved" else make_am_alert()["endsAt"]
    return make_alertmanager(
        status=status, alerts=[make_am_alert(status=status, labels=CHECKOUT_LABELS, endsAt=ends)]
    )


CUSTOMER_REPORTS: list[tuple[str, dict[str, Any]]] = [
    (
        "tickets",
        make_zendesk(
            detail={
                **make_zendesk()["detail"],
                "subject": "Checkout error",
                "description": "Checkout fails with an error.",
            }
        ),
    ),
    ("feedback", make_feedback(rating=1, text="Checkout is broken, I can't pay")),
    ("social", make_social(text="@shop your checkout doesn't work")),
]


# --- reading what the pipeline produced ------------------------------------------------------------


def hooks(receiver: HttpReceiver) -> list[Request]:
    return receiver.on(WEBHOOK_PATH)


def hook_for(receiver: HttpReceiver, trigger_id: str) -> list[Request]:
    return [r for r in hooks(receiver) if r.json()["trigger_id"] == trigger_id]


# --- the test ---------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with http_receiver() as server:
        server.script(WEBHOOK_PATH, Reply(status=200))
        yield server


@pytest.fixture
async def pipeline(
    kafka: KafkaTestKit,
    endpoints: Endpoints,
    database_url: str,
    group_id: str,
    tmp_path: Path,
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Pipeline:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    return Pipeline(
        kafka=kafka,
        bootstrap=endpoints.kafka_bootstrap,
        database_url=database_url,
        redis_url=endpoints.redis_url,
        group_id=group_id,
        policy_dir=pipeline_policy_dir(tmp_path / "policy", webhook_url=receiver.url(WEBHOOK_PATH)),
        topics=await kafka.topics(*TOPICS),
    )


@pytest.mark.timeout(120)
async def test_checkout_incident_from_raw_events_to_resolved(
    pipeline: Pipeline, receiver: HttpReceiver
) -> None:
    started = time.monotonic()
    async with topic_tap(pipeline.bootstrap, pipeline.topics) as tap, run_pipeline(pipeline) as services:
        print(f"\nservices joined their groups in {time.monotonic() - started:.1f}s")
        created = await open_incident(pipeline, tap, receiver)
        await unacknowledged_escalates_and_breaches(tap, receiver, created)
        await acknowledging_stops_escalation(pipeline, services, tap, receiver, created)
        notified = [created.decision_id, *notified_sla_events(tap, created.issue_id)]
        await everything_accounted_for(services, tap, receiver, notified, raw_in=1 + len(CUSTOMER_REPORTS))
        print(f"acknowledged story checked after {time.monotonic() - started:.1f}s")
        resolved = await resolved_alert_resolves_issue(pipeline, tap, receiver, created)
        notified.append(resolved.decision_id)
        await everything_accounted_for(services, tap, receiver, notified, raw_in=2 + len(CUSTOMER_REPORTS))
    print(f"pipeline test took {time.monotonic() - started:.1f}s")


async def open_incident(pipeline: Pipeline, tap: TopicTap, receiver: HttpReceiver) -> TriagedIssue:
    """The alert opens one critical issue; three customer reports in other words merge into it."""
    await pipeline.publish("alerts", checkout_alert())
    created: TriagedIssue = await wait_for(
        lambda: next((d for d in decisions(tap) if d.decision is Decision.CREATED), None),
        timeout=STEP,
        what="the CREATED decision",
    )
    for name, payload in CUSTOMER_REPORTS:
        await pipeline.publish(name, payload)
    await wait_for(
        lambda: any(d.occurrences == 4 for d in decisions(tap)), timeout=STEP, what="the 4th report merged"
    )

    triaged = decisions(tap)
    assert {d.issue_id for d in triaged} == {created.issue_id}, "one issue for the checkout incident"
    assert [d.decision for d in triaged] == [Decision.CREATED] + [Decision.UPDATED] * (len(triaged) - 1)
    assert {d.severity for d in triaged} == {Severity.CRITICAL}
    assert [d.notify for d in triaged] == [True] + [False] * (len(triaged) - 1), "updates notify nobody"
    assert created.merged_by is MergeRule.NEW
    assert {d.merged_by for d in triaged[1:]} == {MergeRule.SIMILARITY}
    assert (created.component, created.route.name) == ("checkout", "payments-urgent")

    issues = await fetch(pipeline.database_url, "SELECT * FROM issues")
    assert [(r["issue_id"], r["severity"], r["status"], r["occurrences"]) for r in issues] == [
        (created.issue_id, "critical", "open", 4)
    ]
    reports = await fetch(pipeline.database_url, "SELECT issue_id, source, merged_by FROM reports")
    assert sorted((r["issue_id"], r["source"], r["merged_by"]) for r in reports) == sorted(
        [
            (created.issue_id, "alerts", "new"),
            (created.issue_id, "tickets", "similarity"),
            (created.issue_id, "feedback", "similarity"),
            (created.issue_id, "social", "similarity"),
        ]
    )
    await audit_reaches(
        pipeline, created.issue_id, {("issue.created", "triage"), ("sla.started", "triage")}, updates=3
    )

    (trigger,) = await wait_for(
        lambda: hook_for(receiver, created.decision_id), timeout=STEP, what="the trigger webhook"
    )
    verify_webhook(trigger.headers, trigger.body, WEBHOOK_SECRET, datetime.now(UTC))
    body = trigger.json()
    assert (body["kind"], body["issue_id"], body["severity"]) == ("trigger", created.issue_id, "critical")
    reasons = body["impact"]["top_reasons"]
    assert reasons, "the trigger explains the impact"
    assert {(r["rule"], r["reason"]) for r in reasons} <= {(i.rule, i.reason) for i in created.breakdown}
    assert "checkout is a core function" in {r["reason"] for r in reasons}
    assert body["impact"]["score"] == created.impact.score
    return created


async def audit_reaches(
    pipeline: Pipeline, issue_id: str, expected: set[tuple[str, str]], *, updates: int
) -> None:
    """Wait until the issue's audit trail holds ``expected`` (action, actor) rows and ``updates`` updates."""

    async def rows() -> Counter[tuple[str, str]]:
        found = await fetch(
            pipeline.database_url, "SELECT action, actor FROM audit_log WHERE issue_id = $1", issue_id
        )
        return Counter((r["action"], r["actor"]) for r in found)

    async def complete() -> bool:
        counted = await rows()
        return counted[("issue.updated", "triage")] == updates and all(counted[e] == 1 for e in expected)

    await wait_for(complete, timeout=STEP, what=f"the audit trail {sorted(expected)}")


async def unacknowledged_escalates_and_breaches(
    tap: TopicTap, receiver: HttpReceiver, created: TriagedIssue
) -> None:
    """Nobody acknowledges: escalations, a reminder, at risk then breached, each on time and notified."""
    opened = created.decided_at
    breached: SlaEvent = await wait_for(
        lambda: next((e for e in sla_events(tap, created.issue_id) if e.kind is SlaEventKind.BREACHED), None),
        timeout=6.0 + ON_TIME + 5,
        what="the response SLA breach",
    )
    events = sla_events(tap, created.issue_id)
    assert [(e.kind, e.target, seconds_after(opened, e.due_at)) for e in events] == UNACKNOWLEDGED
    for event in events:
        assert 0 <= seconds_after(event.due_at, event.emitted_at) < ON_TIME, event
        assert event.late is False
    assert [e.escalation_step for e in events if e.kind is SlaEventKind.ESCALATION] == [1, 2, 3]
    assert (breached.target_seconds, breached.policy) == (6.0, "critical/response@always")

    await wait_for(
        lambda: all(hook_for(receiver, e.event_id) for e in events),
        timeout=STEP,
        what="a webhook notification for every SLA event",
    )
    for event in events:
        (request,) = hook_for(receiver, event.event_id)
        verify_webhook(request.headers, request.body, WEBHOOK_SECRET, datetime.now(UTC))
    bodies = {e.kind: hook_for(receiver, e.event_id)[0].json() for e in events}
    assert {kind: body["kind"] for kind, body in bodies.items()} == {
        SlaEventKind.ESCALATION: "escalation",
        SlaEventKind.RENOTIFY: "trigger",
        SlaEventKind.AT_RISK: "escalation",
        SlaEventKind.BREACHED: "escalation",
    }
    assert {body["issue_id"] for body in bodies.values()} == {created.issue_id}
    assert bodies[SlaEventKind.RENOTIFY]["headline"].startswith("Reminder: still not acknowledged")
    assert bodies[SlaEventKind.BREACHED]["headline"].startswith("Response SLA breached")


async def acknowledging_stops_escalation(
    pipeline: Pipeline,
    services: RunningPipeline,
    tap: TopicTap,
    receiver: HttpReceiver,
    created: TriagedIssue,
) -> None:
    """An acknowledgement on the API: a LifecycleEvent, the clock stops breached, no reminder or escalation after."""
    response = await services.sla_api.post(f"/v1/issues/{created.issue_id}/acknowledge", headers=API_AUTH)
    assert response.status_code == 200, response.text
    acknowledged_at = datetime.fromisoformat(response.json()["event"]["at"])

    def stopping() -> list[str]:
        kinds = (SlaEventKind.ESCALATION, SlaEventKind.RENOTIFY)
        return [e.event_id for e in sla_events(tap, created.issue_id) if e.kind in kinds]

    def delivered() -> list[str]:
        return [r.json()["trigger_id"] for r in hooks(receiver)]

    await stays_quiet(
        lambda: (stopping(), delivered()),
        until=created.decided_at + timedelta(seconds=NEXT_REMINDER + 1),
        what="escalations, reminders and webhook notifications",
    )
    (event,) = [e for e in lifecycle_events(tap) if e.action is LifecycleAction.ACKNOWLEDGE]
    assert (event.issue_id, event.actor, event.via) == (created.issue_id, API_USER, Via.API)
    assert (event.from_status, event.to_status, event.at) == (
        IssueStatus.OPEN,
        IssueStatus.ACKNOWLEDGED,
        acknowledged_at,
    )
    assert [e for e in sla_events(tap, created.issue_id) if e.kind is SlaEventKind.MET] == [], (
        "acknowledged after the breach: the response target was not met"
    )
    view = (await services.sla_api.get(f"/v1/issues/{created.issue_id}", headers=API_AUTH)).json()
    response_clock = next(c for c in view["clocks"] if c["target"] == "response")
    assert (view["status"], response_clock["state"]) == ("acknowledged", "breached")
    assert datetime.fromisoformat(response_clock["stopped_at"]) == acknowledged_at
    await audit_reaches(
        pipeline,
        created.issue_id,
        {("acknowledge", API_USER), ("lifecycle.acknowledge", API_USER)},
        updates=3,
    )
    (issue,) = await fetch(pipeline.database_url, "SELECT status FROM issues")
    assert issue["status"] == "acknowledged", "triage applied the lifecycle event"


def notified_sla_events(tap: TopicTap, issue_id: str) -> list[str]:
    """The SLA events that reach people (every kind but ``met``), by event id."""
    return [e.event_id for e in sla_events(tap, issue_id) if e.kind is not SlaEventKind.MET]


async def resolved_alert_resolves_issue(
    pipeline: Pipeline, tap: TopicTap, receiver: HttpReceiver, created: TriagedIssue
) -> TriagedIssue:
    """The alert resolves at its source: a RESOLVED decision, a resolve notification, the clocks stop."""
    await pipeline.publish("alerts", checkout_alert("resolved"))
    resolved: TriagedIssue = await wait_for(
        lambda: next((d for d in decisions(tap) if d.decision is Decision.RESOLVED), None),
        timeout=RESOLVE_DEADLINE,
        what="the RESOLVED decision (the alert resolved; merged feedback and posts do not hold it open)",
    )
    assert (resolved.issue_id, resolved.status) == (created.issue_id, IssueStatus.RESOLVED)
    (request,) = await wait_for(
        lambda: hook_for(receiver, resolved.decision_id), timeout=STEP, what="the resolve webhook"
    )
    verify_webhook(request.headers, request.body, WEBHOOK_SECRET, datetime.now(UTC))
    assert request.json()["kind"] == "resolve"
    met = await wait_for(
        lambda: [
            e
            for e in sla_events(tap, created.issue_id)
            if e.kind is SlaEventKind.MET and e.target is SlaTarget.RESOLUTION
        ],
        timeout=STEP,
        what="the resolution SLA met",
    )
    assert len(met) == 1
    resolves = [e for e in lifecycle_events(tap) if e.action is LifecycleAction.RESOLVE]
    assert [(e.issue_id, e.via) for e in resolves] == [(created.issue_id, Via.TRIAGE)]
    (issue,) = await fetch(pipeline.database_url, "SELECT status FROM issues")
    assert issue["status"] == "resolved"
    return resolved


async def everything_accounted_for(
    services: RunningPipeline, tap: TopicTap, receiver: HttpReceiver, triggers: list[str], *, raw_in: int
) -> None:
    """Every notification once per channel and nothing else; every raw message normalized or dead-lettered."""

    def records() -> list[NotificationRecord]:
        return [NotificationRecord.model_validate_json(m.value) for m in tap.on("notifications")]

    await wait_for(lambda: len(records()) >= 2 * len(triggers), timeout=STEP, what="a record per delivery")
    await stays_quiet(
        lambda: (len(tap.on("notifications")), len(hooks(receiver))),
        until=datetime.now(UTC) + timedelta(seconds=1),
        what="notifications",
    )
    sent = records()
    assert {r.outcome for r in sent} == {DeliveryOutcome.SENT}
    assert max(Counter(r.idempotency_key for r in sent).values()) == 1, "a notification went out twice"
    for channel in ("console", "webhook"):
        assert sorted(r.trigger_id for r in sent if r.channel == channel) == sorted(triggers), channel
    assert sorted(r.json()["trigger_id"] for r in hooks(receiver)) == sorted(triggers)
    assert set(receiver.key_counts(WEBHOOK_PATH).values()) == {1}
    for request in hooks(receiver):
        verify_webhook(request.headers, request.body, WEBHOOK_SECRET, datetime.now(UTC))

    await wait_for(lambda: len(tap.on("normalized")) >= raw_in, timeout=STEP, what="every raw message")
    dead = [DeadLetter.model_validate_json(m.value) for m in tap.on("deadletter")]
    assert (len(tap.on("normalized")), dead) == (raw_in, []), "in = out + dead, and nothing is dead"
    consumed = await metric_values(services.normalizer, "hypercare_messages_consumed_total")
    produced = await metric_values(services.normalizer, "hypercare_messages_produced_total")
    out = sum(v for labels, v in produced.items() if ("topic", tap.topic("normalized")) in labels)
    letters = sum(v for labels, v in produced.items() if ("topic", tap.topic("deadletter")) in labels)
    assert (sum(consumed.values()), out, letters) == (raw_in, raw_in, 0), "the normalizer's own count"
