"""People's acknowledges and resolves read out of order with triage's decisions, on the real Kafka,
PostgreSQL, Redis and a PagerDuty receiver: an acknowledge that happened is never lost (not even across a
restart before the issue's first decision is read), a stale one never silences a newer cycle, and the
lifecycle topic's own order stands whatever the events' instants say.

The order in which the notifier reads its topics is set by waiting until it has consumed one message
before producing the next on another topic; the instants in the messages say when things happened."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from hypercare_contracts.common import Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_domain.policy import load_policy_file
from hypercare_domain.triage.routing import RoutesPolicy
from hypercare_notifier.app import create_app
from hypercare_notifier.intake import Intake
from hypercare_notifier.planning import ChannelInfo, Channels
from hypercare_notifier.policy import load_notifier_policy
from hypercare_notifier.records import Recorder, RecordTopics
from hypercare_notifier.redis_state import SentMarks, StormCounter
from hypercare_runtime.cache import open_redis
from hypercare_runtime.db import open_pool
from hypercare_store.deliveries import DeliveryStore

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


async def read_back(stack: NotifierStack, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the three input topics, as a consumer of a new group reads them."""
    topics = [stack.topics[t] for t in ("triaged", "sla", "lifecycle")]
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=stack.endpoints.kafka_bootstrap,
        group_id=f"replay-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:

        async def read() -> bool:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            return len(records) >= count

        await wait_for(read, what=f"{count} records read back")
    finally:
        await consumer.stop()
    return records


@asynccontextmanager
async def replaying_intake(stack: NotifierStack, policy: Path) -> AsyncIterator[Intake]:
    """The notifier's intake on the stack's PostgreSQL and Redis, to hand a replayed batch in an order
    the test chooses (a consumer's batch mixes its partitions in no order a test can set)."""
    settings = stack.settings("unused", policy)
    pool = await open_pool(stack.database_url)
    redis = open_redis(stack.endpoints.redis_url, timeout_s=0.5, retries=0)
    try:
        routes = load_policy_file(policy, "routes.yaml", RoutesPolicy)
        yield Intake(
            store=DeliveryStore(pool),
            marks=SentMarks(redis, prefix=settings.redis_prefix, ttl_seconds=60),
            storm=StormCounter(redis, prefix=settings.redis_prefix),
            storm_policy=load_notifier_policy(policy).storm,
            recorder=Recorder(
                RecordTopics(
                    notifications=settings.notifications_topic,
                    deadletter=settings.deadletter_topic,
                    triaged=settings.triaged_topic,
                    sla=settings.sla_topic,
                    lifecycle=settings.lifecycle_topic,
                )
            ),
            channels=Channels(
                known={
                    "pagerduty-payments": ChannelInfo("pagerduty-payments", pager=True),
                    "webhook": ChannelInfo("webhook", pager=False),
                },
                default="console",
            ),
            route_channels=lambda name: routes.target(name).channels,
            triaged_topic=settings.triaged_topic,
            sla_topic=settings.sla_topic,
            lifecycle_topic=settings.lifecycle_topic,
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        )
    finally:
        await redis.aclose()
        await pool.close()


async def test_a_replay_reading_the_sla_topic_first_leaves_the_reopened_cycles_page_open(
    stack: NotifierStack, group_id: str
) -> None:
    issue_id = "iss-replayed"
    policy = stack.policy()
    quiet = make_decision(
        channels=["pagerduty-payments", "webhook"], issue_id=issue_id, severity=Severity.LOW, decided_at=at(0)
    )
    async with running(create_app(stack.settings(group_id, policy))):
        await stack.decide(quiet)
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 1, what="the webhook told, no page")
        await stack.lifecycle(person(issue_id, LifecycleAction.RESOLVE, 10))
        await wait_for(lambda: len(stack.receiver.on("/hook")) == 2, what="the webhook told of the resolve")
        await stack.lifecycle(person(issue_id, LifecycleAction.REOPEN, 15))
        await stack.sla(escalation(issue_id, 1))
        await wait_for(
            lambda: len(stack.receiver.on("/pd")) == 1, what="the reopened issue's escalation page"
        )

    # A replay in one batch (a new group, expired offsets) that holds the SLA topic ahead of the
    # lifecycle topic: the old resolve and reopen come after the page they preceded.
    records = await read_back(stack, 4)
    rank = {stack.topics["triaged"]: 0, stack.topics["sla"]: 1, stack.topics["lifecycle"]: 2}
    async with replaying_intake(stack, policy) as intake:
        replayed = await intake.handle(sorted(records, key=lambda r: (rank[r.topic], r.offset)))
    assert replayed.inserted == [], "nothing new is planned"

    async with running(create_app(stack.settings(group_id, policy))):
        await stack.lifecycle(person(issue_id, LifecycleAction.ACKNOWLEDGE, 20))
        await wait_for(lambda: len(stack.receiver.on("/pd")) == 2, what="the PagerDuty acknowledge")
        await stays(lambda: len(stack.receiver.on("/pd")), 2)

    assert pd_actions(stack) == ["trigger", "acknowledge"], "the open incident is acknowledged, not resolved"
