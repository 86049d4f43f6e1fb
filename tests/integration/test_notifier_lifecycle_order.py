"""People's acknowledges and resolves read out of order with triage's decisions, on the real Kafka,
PostgreSQL, Redis and a PagerDuty receiver: an acknowledge that happened is never lost (not even across a
restart before the issue's first decision is read), a stale one never silences a newer cycle, and the
lifecycle topic's own order stands whatever the events' instants say.

The order in which the notifier reads its topics is set by waiting until it has consumed one message
before producing the next on another topic; the instants in the messages say when things happened."""

from datetime import timedelta
from typing import Any

import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_notifier.app import create_app

from tests.support.kafka import wait_for
from tests.support.receivers import (
    NOW,
    NotifierStack,
    consumed,
    make_decision,
    make_lifecycle_event,
    metric,
    stays,
)
from tests.support.services import running

pytestmark = pytest.mark.integration


def at(minutes: int) -> Any:
    return NOW + timedelta(minutes=minutes)


def paging(issue_id: str, version: int, kind: Decision, minutes: int) -> TriagedIssue:
    """A critical decision of ``issue_id`` on a route with PagerDuty and the webhook."""
    status = IssueStatus.RESOLVED if kind is Decision.RESOLVED else IssueStatus.OPEN
    return make_decision(
        channels=["pagerduty-payments", "webhook"],
        issue_id=issue_id,
        version=version,
        decision=kind,
        status=status,
        decided_at=at(minutes),
    )


def person(issue_id: str, action: LifecycleAction, minutes: int) -> LifecycleEvent:
    return make_lifecycle_event(issue_id, action, command_id=f"{issue_id}-{action.value}", at=at(minutes))


def escalation(issue_id: str, step: int) -> SlaEvent:
    return SlaEvent(
        event_id=f"{issue_id}-escalation-{step}",
        kind=SlaEventKind.ESCALATION,
        issue_id=issue_id,
        severity=Severity.CRITICAL,
        route="payments-urgent",
        target=SlaTarget.RESPONSE,
        due_at=at(40),
        emitted_at=at(40),
        business_elapsed_seconds=600,
        policy="payments-oncall",
        escalation_step=step,
        escalation_target="payments-lead",
    )


def pd_actions(stack: NotifierStack) -> list[str]:
    return [r.json()["event_action"] for r in stack.receiver.on("/pd")]


async def test_an_acknowledge_read_before_the_first_decision_is_kept_across_a_restart_and_stops_paging(
    stack: NotifierStack, group_id: str
) -> None:
    issue_id = "iss-acked-early"
    policy = stack.policy()
    first = create_app(stack.settings(group_id, policy))
    async with running(first):
        await stack.lifecycle(person(issue_id, LifecycleAction.ACKNOWLEDGE, 5))
        await consumed(first, stack.topics["lifecycle"], 1)
        assert (
            await metric(first, "hypercare_notifier_lifecycle_messages_total", outcome="unknown_issue") == 1
        )

    second = create_app(stack.settings(group_id, policy))
    async with running(second):
        await stack.decide(paging(issue_id, 1, Decision.CREATED, 0))
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 1, what="the webhook told of the issue")
        await stack.sla(escalation(issue_id, 1))
        await consumed(second, stack.topics["sla"], 1)
        await stays(lambda: len(stack.receiver.requests), 1)
        skipped = await metric(second, "hypercare_notifications_skipped_total", reason="acknowledged")

    assert pd_actions(stack) == [], "acknowledged before the notifier read the issue: nobody is paged"
    assert stack.receiver.on("/hook")[0].json()["kind"] == "trigger"
    assert skipped == 2, "the escalation is recorded as skipped on both channels"


async def test_an_old_acknowledge_read_after_the_reopen_does_not_silence_the_new_cycle(
    stack: NotifierStack, group_id: str
) -> None:
    issue_id = "iss-reopened"
    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await stack.decide(
            paging(issue_id, 1, Decision.CREATED, 0),
            paging(issue_id, 2, Decision.RESOLVED, 20),
            paging(issue_id, 3, Decision.REOPENED, 30),
        )
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 3, what="page, resolve, page again")
        # Acknowledged at minute 10, in the first cycle, and read only now (a lagging partition).
        await stack.lifecycle(person(issue_id, LifecycleAction.ACKNOWLEDGE, 10))
        await consumed(app, stack.topics["lifecycle"], 1)
        await stack.sla(escalation(issue_id, 1))
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 4, what="the new cycle's escalation")
        await stays(lambda: len(stack.receiver.on("/pd")), 4)
        stale = await metric(app, "hypercare_notifier_lifecycle_messages_total", outcome="stale")

    assert pd_actions(stack) == ["trigger", "resolve", "trigger", "trigger"]
    assert stack.receiver.on("/pd")[3].json()["payload"]["summary"].startswith("[ESCALATION")
    assert stale == 1


async def test_a_resolve_dated_before_a_later_acknowledge_resolves_pagerduty(
    stack: NotifierStack, group_id: str
) -> None:
    issue_id = "iss-resolved-early"
    app = create_app(stack.settings(group_id, stack.policy()))
    async with running(app):
        await stack.decide(paging(issue_id, 1, Decision.CREATED, 0))
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 1, what="the page")
        await stack.lifecycle(person(issue_id, LifecycleAction.ACKNOWLEDGE, 10))
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 2, what="the PagerDuty acknowledge")
        # A source's Kafka command resolves the issue with its own instant, before the acknowledge; the
        # SLA service applies it (a resolve made before a later acknowledge still resolves).
        resolve = make_lifecycle_event(
            issue_id, LifecycleAction.RESOLVE, via=Via.KAFKA, actor="zendesk", at=at(5)
        )
        await stack.lifecycle(resolve)
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 3, what="the PagerDuty resolve")
        await stays(lambda: len(stack.receiver.on("/pd")), 3)

    assert pd_actions(stack) == ["trigger", "acknowledge", "resolve"]
