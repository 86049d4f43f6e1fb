"""The notifier's background loops outlive a failed round: claims, lease renewal and digest planning go on
after a database failure or a defect, and a delivery that does not render fails instead of crashing; the
outbox relay still stops at once when cancelled while Kafka does not answer.

The worker, the planner and the relay run on hand-written fakes of their ports (the delivery log with its
outbox, the sent marks, a channel, a broker), in memory."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal, cast

import pytest
from aiokafka.errors import KafkaTimeoutError
from faststream.kafka import KafkaBroker
from hypercare_contracts import DeadLetter
from hypercare_contracts.notifications import DeliveryOutcome, NotificationRecord
from hypercare_domain.notify.render import RenderedNotification
from hypercare_notifier.channels import Attempt
from hypercare_notifier.digests import run_digest_planner
from hypercare_notifier.intake import IntakeResult
from hypercare_notifier.loops import Backoff
from hypercare_notifier.metrics import NotifierMetrics
from hypercare_notifier.planning import ChannelInfo, Channels
from hypercare_notifier.records import OutboxRelay, Recorder, RecordTopics
from hypercare_notifier.rendering import LinkSigner, Renderer
from hypercare_notifier.worker import DeliveryWorker, WorkerConfig
from hypercare_store.deliveries import ChooseChannels, ClaimedDelivery, DigestWindow, NewDelivery, NewStatus
from hypercare_store.notifier_outbox import OutboxMessage, Publish
from prometheus_client import CollectorRegistry

from tests.support.kafka import wait_for
from tests.support.receivers import make_decision

pytestmark = pytest.mark.unit

QUICK = Backoff(first=0.05, most=0.2)
LEASE = 0.6
"""Seconds of a claim's lease in these tests: renewed every 0.2 s."""
DEADLINE = 5.0
TOPICS = RecordTopics(
    notifications="notifications",
    deadletter="deadletter",
    triaged="triaged",
    sla="sla",
    lifecycle="lifecycle",
)


class FakeLog:
    """The delivery log in memory, leases on the monotonic clock, and its outbox (what each change wrote
    with it); ``failing[method]`` are the exceptions its next calls raise, one per call."""

    def __init__(self, *rows: ClaimedDelivery) -> None:
        self.rows = {row.key: row for row in rows}
        self.status = {row.key: "pending" for row in rows}
        self.leases: dict[str, float] = {}
        self.failing: dict[str, list[Exception]] = {}
        self.renewals = 0
        self.outbox: list[OutboxMessage] = []

    def _maybe_fail(self, method: str) -> None:
        if self.failing.get(method):
            raise self.failing[method].pop(0)

    async def claim(self, *, worker: str, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
        self._maybe_fail("claim")
        now = time.monotonic()
        free = [k for k, s in self.status.items() if s == "pending" and self.leases.get(k, 0.0) < now]
        for key in free[:limit]:
            self.leases[key] = now + lease_seconds
        return [self.rows[k] for k in free[:limit]]

    async def extend(self, *, worker: str, keys: Sequence[str], lease_seconds: float) -> None:
        self._maybe_fail("extend")
        for key in keys:
            if self.status[key] == "pending":
                self.leases[key] = time.monotonic() + lease_seconds
        self.renewals += 1

    async def release(self, *, worker: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.leases.pop(key, None)

    async def pending_count(self) -> int:
        return sum(s == "pending" for s in self.status.values())

    async def record_attempt(
        self,
        key: str,
        *,
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage],
    ) -> None:
        if self.status[key] == "pending":
            self.outbox.extend(outbox)

    async def finish(
        self,
        key: str,
        *,
        status: Literal["sent", "failed"],
        attempts: int,
        status_code: int | None,
        error: str | None,
        outbox: Sequence[OutboxMessage],
    ) -> bool:
        if self.status[key] != "pending":
            return False
        self.status[key] = status
        self.outbox.extend(outbox)
        return True

    def records(self) -> list[tuple[str, DeliveryOutcome]]:
        """The outcome records in the outbox: (idempotency key, outcome)."""
        found = [
            NotificationRecord.model_validate_json(m.value)
            for m in self.outbox
            if m.topic == TOPICS.notifications
        ]
        return [(r.idempotency_key, r.outcome) for r in found]

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters in the outbox."""
        return [DeadLetter.model_validate_json(m.value) for m in self.outbox if m.topic == TOPICS.deadletter]


class FakeMarks:
    async def mark(self, key: str) -> None:
        pass


class FakeChannel:
    """A receiver that accepts every notification, once ``open`` is set (it is from the start)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    @property
    def name(self) -> str:
        return "webhook"

    async def send(self, note: RenderedNotification, *, idempotency_key: str) -> Attempt:
        self.received.append(idempotency_key)
        await self.open.wait()
        return Attempt(status_code=200)


def decision_row(key: str = "key-1") -> ClaimedDelivery:
    issue = make_decision()
    return ClaimedDelivery(
        key=key,
        issue_id=issue.issue_id,
        trigger_id=issue.decision_id,
        trigger_kind="decision",
        step=0,
        channel="webhook",
        route=issue.route.name,
        kind=None,
        payload=issue.model_dump_json(),
        attempts=0,
        digest_id=None,
        ingested_at=None,
        trace_id=None,
    )


async def no_members(digest_id: str) -> list[str]:
    return []


def make_worker(
    log: FakeLog,
    channel: FakeChannel,
    *,
    link_ttl: timedelta = timedelta(hours=1),
    backoff: Backoff = QUICK,
) -> DeliveryWorker:
    return DeliveryWorker(
        store=log,
        marks=FakeMarks(),
        channels={channel.name: channel},
        retry={},
        renderer=Renderer(
            signer=LinkSigner("https://hypercare.example", "link-secret", link_ttl),
            members=no_members,
            digest_max_entries=10,
        ),
        recorder=Recorder(TOPICS),
        recorded=lambda: None,
        metrics=NotifierMetrics(CollectorRegistry()),
        config=WorkerConfig(
            instance_id="test-worker",
            concurrency=4,
            claim_seconds=LEASE,
            poll_seconds=0.05,
            shutdown_grace_seconds=0.5,
            backoff=backoff,
        ),
    )


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


FAILURES = [
    pytest.param(ConnectionResetError("connection reset by peer"), id="database"),
    pytest.param(ZeroDivisionError("a defect"), id="defect"),
]


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_failed_claim_is_tried_again_and_the_delivery_made(failure: Exception) -> None:
    row = decision_row()
    log, channel = FakeLog(row), FakeChannel()
    log.failing["claim"] = [failure]

    async with running(make_worker(log, channel)):
        await wait_for(lambda: log.status[row.key] == "sent", timeout=DEADLINE, what="the delivery")

    assert log.failing["claim"] == [], "the claim failed once"
    assert channel.received == [row.key]
    assert log.records() == [(row.key, DeliveryOutcome.SENT)], "recorded with the delivery"


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_failed_lease_renewal_is_tried_again_so_a_long_delivery_is_sent_once(
    failure: Exception,
) -> None:
    row = decision_row()
    log, channel = FakeLog(row), FakeChannel()
    log.failing["extend"] = [failure]
    channel.open.clear()  # the receiver holds the request for several leases

    async with running(make_worker(log, channel)):
        await wait_for(lambda: channel.received, timeout=DEADLINE, what="the request")
        # Four renewals after the failed one: the first lease would have lapsed, and the row been
        # claimed and sent again, had renewing stopped.
        await wait_for(lambda: log.renewals >= 4, timeout=DEADLINE, what="the lease renewed")
        assert log.leases[row.key] > time.monotonic()
        channel.open.set()
        await wait_for(lambda: log.status[row.key] == "sent", timeout=DEADLINE, what="the delivery")

    assert log.failing["extend"] == [], "the renewal failed once"
    assert channel.received == [row.key], "sent once"


async def test_a_delivery_that_does_not_render_fails_and_is_dead_lettered() -> None:
    row = decision_row()
    log, channel = FakeLog(row), FakeChannel()

    # Its action links would expire past the year 9999: OverflowError, which is no ValueError.
    async with running(make_worker(log, channel, link_ttl=timedelta.max)):
        await wait_for(lambda: log.status[row.key] == "failed", timeout=DEADLINE, what="the failure")

    assert channel.received == []
    (letter,) = log.dead_letters()
    assert row.key in letter.reason
    assert "OverflowError" in letter.reason
    assert log.records() == [(row.key, DeliveryOutcome.FAILED)]


async def test_a_worker_waiting_after_a_failure_stops_at_once_when_cancelled() -> None:
    log = FakeLog(decision_row())
    log.failing["claim"] = [ConnectionResetError("connection reset by peer")]
    worker = make_worker(log, FakeChannel(), backoff=Backoff(first=60))

    task = asyncio.create_task(worker.run())
    await wait_for(lambda: not log.failing["claim"], timeout=DEADLINE, what="the failed claim")
    task.cancel()
    async with asyncio.timeout(1):
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert task.cancelled()


class FakePlanner:
    """Plans one due window of ``route`` on the console channel, after its scripted failures."""

    def __init__(self, route: str, *failures: Exception) -> None:
        self.failing = list(failures)
        self.due = [DigestWindow(f"digest-{route}", route, datetime.now(UTC), datetime.now(UTC))]

    async def plan_digests(
        self, *, grace_seconds: float, choose: ChooseChannels, key: Callable[[str, str], str]
    ) -> list[tuple[DigestWindow, list[str]]]:
        if self.failing:
            raise self.failing.pop(0)
        planned, self.due = [(w, list(choose([]))) for w in self.due], []
        return planned


@pytest.mark.parametrize("failure", FAILURES)
async def test_the_digest_planner_goes_on_after_a_failed_round(failure: Exception) -> None:
    planner, registry, woken = FakePlanner("payments", failure), CollectorRegistry(), asyncio.Event()
    channels = Channels(known={"console": ChannelInfo("console", pager=False)}, default="console")

    task = asyncio.create_task(
        run_digest_planner(
            planner,
            channels,
            NotifierMetrics(registry),
            grace_seconds=0,
            interval=0.05,
            wake=woken.set,
            backoff=QUICK,
        )
    )
    try:
        await wait_for(woken.is_set, timeout=DEADLINE, what="the worker woken for the digest")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert planner.failing == [], "the round failed once"
    assert registry.get_sample_value("hypercare_notification_digests_total", {"route": "payments"}) == 1
    kind = "defect" if isinstance(failure, ZeroDivisionError) else "surroundings"
    assert (
        registry.get_sample_value("hypercare_notifier_loop_failures_total", {"loop": "digests", "kind": kind})
        == 1
    ), "counted, so that an alert can tell a loop that keeps failing"


def test_the_wait_after_failures_doubles_up_to_its_bound() -> None:
    assert [Backoff().delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert Backoff().delay(10_000) == 10


class StuckBroker:
    """Kafka as the relay sees it while Kafka is down: the first message is queued and its acknowledgement
    fails after ``fails_after`` seconds; the next ``publish`` blocks (the producer's buffer is full)."""

    config = SimpleNamespace(producer=SimpleNamespace())
    """No connected aiokafka producer: the batch publisher goes through :meth:`publish`."""

    def __init__(self, fails_after: float) -> None:
        self.fails_after = fails_after
        self.queued: list[asyncio.Future[None]] = []
        self.blocked = asyncio.Event()

    async def publish(self, value: bytes, topic: str, **options: Any) -> asyncio.Future[None]:
        if self.queued:
            self.blocked.set()
            await asyncio.Event().wait()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fail() -> None:
            if not future.done():
                future.set_exception(KafkaTimeoutError())

        asyncio.get_running_loop().call_later(self.fails_after, fail)
        self.queued.append(future)
        return future


class FakeOutbox:
    """The outbox in memory: a round deletes its messages once ``publish`` returned. ``on_cancel`` is
    raised in place of the cancellation of a round (a rollback that fails on the way out)."""

    def __init__(self, *messages: OutboxMessage, on_cancel: Exception | None = None) -> None:
        self.messages = list(messages)
        self.on_cancel = on_cancel
        self.rounds = 0

    async def relay_outbox(self, *, limit: int, publish: Publish) -> int:
        self.rounds += 1
        batch = self.messages[:limit]
        if not batch:
            return 0
        try:
            await publish(batch)
        except asyncio.CancelledError:
            if self.on_cancel is not None:
                raise self.on_cancel from None
            raise
        del self.messages[: len(batch)]
        return len(batch)


def outbox_messages(count: int) -> list[OutboxMessage]:
    return [OutboxMessage(TOPICS.notifications, "iss-1", f'{{"n": {n}}}') for n in range(count)]


def make_relay(broker: StuckBroker, outbox: FakeOutbox) -> OutboxRelay:
    metrics = NotifierMetrics(CollectorRegistry())
    return OutboxRelay(cast(KafkaBroker, broker), outbox, metrics, poll_seconds=0.05, backoff=QUICK)


async def test_the_relay_stops_at_once_when_cancelled_while_kafka_does_not_answer() -> None:
    broker, outbox = StuckBroker(fails_after=0.3), FakeOutbox(*outbox_messages(2))
    task = asyncio.create_task(make_relay(broker, outbox).run())
    await wait_for(broker.blocked.is_set, timeout=DEADLINE, what="the relay blocked on Kafka")

    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)

    assert done, "the relay ended (it used to take Kafka's timeout for an ordinary failure and go on)"
    assert task.cancelled()
    assert [f.cancelled() for f in broker.queued] == [True], "what it queued is dropped, not waited for"
    assert len(outbox.messages) == 2, "the messages stay in the outbox for the next start"


async def test_the_last_relay_of_a_stop_keeps_to_its_time_limit_while_kafka_does_not_answer() -> None:
    broker, outbox = StuckBroker(fails_after=3), FakeOutbox(*outbox_messages(2))
    relay = make_relay(broker, outbox)
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await relay.relay_once()

    assert time.monotonic() - started < 1, "not Kafka's own timeout (3 s here)"
    assert len(outbox.messages) == 2


async def test_the_relay_stops_when_cancelled_even_if_its_round_raises_something_else_on_the_way_out() -> (
    None
):
    broker = StuckBroker(fails_after=60)
    outbox = FakeOutbox(*outbox_messages(2), on_cancel=ConnectionResetError("connection reset by peer"))
    task = asyncio.create_task(make_relay(broker, outbox).run())
    await wait_for(broker.blocked.is_set, timeout=DEADLINE, what="the relay blocked on Kafka")

    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)

    assert done, "cancelled: the loop ends, whatever the round raised"
    assert task.cancelled()
    assert outbox.rounds == 1, "no round after the cancellation"


def test_only_a_batch_that_wrote_records_to_the_outbox_wakes_the_relay() -> None:
    def inserted(status: NewStatus) -> NewDelivery:
        return NewDelivery(status, "iss-1", "t", "decision", 0, "webhook", "payments", None, status, "{}")

    assert not IntakeResult(inserted=[inserted("pending"), inserted("skipped")]).wrote_records
    assert IntakeResult(inserted=[inserted("pending"), inserted("digested")]).wrote_records
