"""The triage service's handlers on FastStream's in-memory broker, with an in-memory issue store."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Container, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker, TestKafkaBroker
from hypercare_contracts import (
    DeadLetter,
    Decision,
    ErrorClass,
    IssueStatus,
    LifecycleAction,
    LifecycleEvent,
    MergeRule,
    NormalizedReport,
    TriagedIssue,
    Via,
)
from hypercare_contracts.topics import HEADER_INGESTED_AT, HEADER_TRACE_ID
from hypercare_domain.triage import AuditEntry, IssueState, Step, decide, triage_batch
from hypercare_domain.triage import batch as batch_module
from hypercare_runtime.kafka import OffsetCommitter, raw_records
from hypercare_runtime.tracing import header_map
from hypercare_store.ports import (
    BatchWrite,
    CandidateQuery,
    OpenCount,
    OutgoingDecision,
    Snapshot,
    StaleReadError,
    StoredReport,
)
from hypercare_triage import pipeline as pipeline_module
from hypercare_triage.app import BatchAbandonedError, _Service, create_app
from hypercare_triage.hints import NoHints, RedisHints
from hypercare_triage.metrics import TriageMetrics
from hypercare_triage.pipeline import Incoming, TriagePipeline
from hypercare_triage.settings import TriageSettings
from prometheus_client import CollectorRegistry
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.factories.sla import make_triaged
from tests.support.kafka import wait_for
from tests.support.pipeline import metric_values
from tests.unit.triage_factories import make_alert, make_report, shipped_policies

pytestmark = pytest.mark.service

NOW = datetime(2025, 6, 4, 12, 30, tzinfo=UTC)


@dataclass
class FakeIssueStore:
    """The store Protocol over dicts, with the version check the real one makes."""

    issues: dict[str, IssueState] = field(default_factory=dict)
    reports: dict[str, StoredReport] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    outbox: dict[str, OutgoingDecision] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    writes: int = 0

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        known = frozenset(e for e in query.event_ids if e in self.reports)
        return Snapshot(known_event_ids=known, issues=dict(self.issues), token="fake")

    async def save_batch(self, *, write: BatchWrite) -> int:
        for state in write.states:
            stored = self.issues.get(state.issue_id)
            if (stored.version if stored else 0) != write.prior_versions.get(state.issue_id, 0):
                raise StaleReadError(state.issue_id)
        self.issues.update({s.issue_id: s for s in write.states})
        self.reports.update({s.report.event_id: s for s in write.reports})
        self.audit.extend(write.audit)
        self.outbox.update({d.decision.decision_id: d for d in write.decisions})
        self.writes += 1
        return self.writes

    async def load_issue(self, *, issue_id: str) -> IssueState | None:
        return self.issues.get(issue_id)

    async def suppressed_open(self) -> list[IssueState]:
        return [s for s in self.issues.values() if s.suppressed_by and s.opened and not s.is_resolved]

    async def open_counts(self) -> list[OpenCount]:
        return []

    async def unpublished(self, *, older_than_seconds: float, limit: int) -> list[OutgoingDecision]:
        return []

    async def mark_published(self, *, decision_ids: Sequence[str]) -> None:
        self.published.update(decision_ids)


@dataclass
class Harness:
    broker: KafkaBroker
    store: FakeIssueStore
    settings: TriageSettings
    triaged: list[tuple[TriagedIssue, bytes | None, dict[str, str]]]
    dead: list[DeadLetter]

    async def send(self, report: NormalizedReport, **headers: str) -> None:
        await self.broker.publish(
            report.model_dump_json().encode(),
            self.settings.normalized_topic,
            key=report.fingerprint.encode(),
            headers=headers,
        )


@asynccontextmanager
async def harness(*, overlap: bool = False, store: FakeIssueStore | None = None) -> AsyncIterator[Harness]:
    # In-memory, a published batch is handled before publish() returns; overlapped, its write
    # would still be running, so tests that look in between publishes write each batch before the next.
    settings = TriageSettings(release_interval=3600, log_json=True, overlap_from=1 if overlap else 1_000_000)
    store = store or FakeIssueStore()
    app = create_app(settings, store=store, clock=lambda: NOW)
    broker = app.broker
    assert isinstance(broker, KafkaBroker)
    triaged: list[tuple[TriagedIssue, bytes | None, dict[str, str]]] = []
    dead: list[DeadLetter] = []

    # The service's broker hands handlers the consumer record itself (apply_types=False, raw_records).
    @broker.subscriber(settings.triaged_topic, decoder=raw_records)
    async def on_triaged(record: Any) -> None:
        decision = TriagedIssue.model_validate_json(record.value)
        triaged.append((decision, record.key, header_map(record.headers)))

    @broker.subscriber(settings.deadletter_topic, decoder=raw_records)
    async def on_dead(record: Any) -> None:
        dead.append(DeadLetter.model_validate_json(record.value))

    async with TestKafkaBroker(broker), app.start_lifespan_context():
        yield Harness(broker, store, settings, triaged, dead)


async def test_a_report_in_gives_a_created_decision_out_keyed_by_issue() -> None:
    report = make_report(trace_id="trace-77")
    async with harness() as h:
        await h.send(report, **{HEADER_TRACE_ID: "trace-77", HEADER_INGESTED_AT: "1717500000.5"})

    assert len(h.triaged) == 1
    decision, key, headers = h.triaged[0]
    assert decision.decision is Decision.CREATED
    assert decision.event_id == report.event_id
    assert key == decision.issue_id.encode()
    assert headers[HEADER_TRACE_ID] == "trace-77"
    assert headers[HEADER_INGESTED_AT] == "1717500000.500000"
    assert decision.decided_at == NOW
    assert set(h.store.reports) == {report.event_id}
    assert h.store.published == {decision.decision_id}


async def test_a_report_seen_before_is_skipped() -> None:
    report = make_report()
    async with harness() as h:
        await h.send(report)
        await h.send(report)

    assert [d.decision for d, _, _ in h.triaged] == [Decision.CREATED]
    assert next(iter(h.store.issues.values())).occurrences == 1


async def test_overlapped_batches_are_all_written_and_published_by_shutdown() -> None:
    reports = [make_report(minutes=i, reporter={"id": f"cust-{i}"}) for i in range(6)]
    async with harness(overlap=True) as h:
        for report in [*reports, reports[2]]:  # the last one a redelivery of an overlapped batch
            await h.send(report)

    assert [d.decision for d, _, _ in h.triaged][:1] == [Decision.CREATED]
    assert set(h.store.reports) == {r.event_id for r in reports}
    assert [s.occurrences for s in h.store.issues.values()] == [6]
    assert h.store.published == {d.decision_id for d, _, _ in h.triaged}


async def test_an_invalid_message_is_dead_lettered_and_the_next_one_triaged() -> None:
    async with harness() as h:
        await h.broker.publish(b'{"event_id": "x"}', h.settings.normalized_topic)
        await h.send(make_report())

    assert [d.error_class for d in h.dead] == [ErrorClass.SCHEMA_VIOLATION]
    assert h.dead[0].service == "triage"
    assert [d.decision for d, _, _ in h.triaged] == [Decision.CREATED]


def _engine_fails_on(monkeypatch: pytest.MonkeyPatch, bad: NormalizedReport) -> None:
    """Make the triage engine raise a defect on ``bad`` (and only on it)."""

    def failing_on_bad(report: NormalizedReport, *args: Any, **kwargs: Any) -> Step:
        if report.event_id == bad.event_id:
            raise ZeroDivisionError("a defect")
        return decide(report, *args, **kwargs)

    monkeypatch.setattr(batch_module, "decide", failing_on_bad)


async def test_a_report_triage_fails_on_is_dead_lettered_and_the_others_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A defect that raises on one report would raise on every attempt: the batch, fetched again and again,
    # would hold up every report behind it.
    bad, good = make_report(title="Checkout fails, defect inside"), make_report(minutes=1)
    _engine_fails_on(monkeypatch, bad)
    async with harness() as h:
        await h.send(bad)
        await h.send(good)

    assert [(d.error_class, d.source_topic, d.offset) for d in h.dead] == [
        (ErrorClass.PROCESSING_ERROR, h.settings.normalized_topic, 0)
    ]
    assert "ZeroDivisionError: a defect" in h.dead[0].reason
    assert NormalizedReport.model_validate_json(h.dead[0].original) == bad, "kept whole, to replay once fixed"
    assert list(h.store.reports) == [good.event_id], "left out of the write, so that a replay triages it"
    assert [d.decision for d, _, _ in h.triaged] == [Decision.CREATED]


@dataclass
class _OtherInstanceWritesFirst(FakeIssueStore):
    """Its first write finds every report of the batch, ``also`` too, written by another instance."""

    also: NormalizedReport | None = None
    conflicted: bool = False

    async def save_batch(self, *, write: BatchWrite) -> int:
        if not self.conflicted and write.reports and self.also is not None:
            self.conflicted = True
            await super().save_batch(write=write)
            self.reports[self.also.event_id] = StoredReport(self.also, None, MergeRule.NEW)
            raise StaleReadError("written meanwhile")
        return await super().save_batch(write=write)


async def test_a_report_triage_failed_on_but_another_instance_stored_is_not_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = make_report(title="Checkout fails, defect inside"), make_report(minutes=1)
    _engine_fails_on(monkeypatch, bad)
    store = _OtherInstanceWritesFirst(also=bad)
    consumer, dead, _, _ = await _handle_batches(store, [_records([bad, good])], overlap=False)

    assert store.conflicted
    assert dead == [], "triaged again, the batch was all stored: nothing of it is dead"
    assert consumer.committed == {TopicPartition(TriageSettings().normalized_topic, 0): 2}


async def test_a_report_postgresql_cannot_store_is_dead_lettered_and_the_others_triaged() -> None:
    async with harness() as h:
        await h.send(make_report(title="Checkout fails\x00"))  # JSON "\u0000": valid, but not storable
        await h.send(make_report(minutes=1, title="Checkout fails \\u0000 again"))  # a backslash: fine

    assert [d.error_class for d in h.dead] == [ErrorClass.CONTROL_CHARACTERS]
    assert "U+0000" in h.dead[0].reason
    assert [r.report.title for r in h.store.reports.values()] == ["Checkout fails \\u0000 again"]


async def test_a_number_beyond_a_float_is_dead_lettered_not_kept_as_infinity() -> None:
    # An issue holding infinity would be stored with null there (JSON has no infinity) and fail to load.
    report = make_report()
    raw = report.model_dump_json().replace('"revenue_at_risk":null', '"revenue_at_risk":1e400')
    async with harness() as h:
        await h.broker.publish(raw.encode(), h.settings.normalized_topic)

    assert [(d.error_class, "revenue_at_risk" in d.reason) for d in h.dead] == [
        (ErrorClass.SCHEMA_VIOLATION, True)
    ]
    assert h.store.reports == {}


async def test_a_report_received_at_the_end_of_the_calendar_is_dead_lettered() -> None:
    # Rate windows reach back from the time of receipt: from year 1 they overflowed, and the batch failed.
    fields = make_report().model_dump(mode="json")
    async with harness() as h:
        await h.broker.publish(
            json.dumps({**fields, "received_at": "0001-01-01T00:00:00Z"}).encode(),
            h.settings.normalized_topic,
        )
        await h.send(make_report(minutes=1))

    assert [(d.error_class, "received_at" in d.reason) for d in h.dead] == [
        (ErrorClass.SCHEMA_VIOLATION, True)
    ]
    assert len(h.store.reports) == 1


def _event(issue_id: str, action: LifecycleAction, to_status: IssueStatus, at: datetime) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"le-{action}",
        command_id=f"cmd-{action}",
        issue_id=issue_id,
        action=action,
        actor="oncall@example.com",
        via=Via.API,
        at=at,
        from_status=IssueStatus.OPEN,
        to_status=to_status,
    )


async def test_a_human_resolve_is_kept_and_a_later_report_reopens_the_issue() -> None:
    first = make_alert(source_ref="alertmanager:x1", minutes=0)
    async with harness() as h:
        await h.send(first)
        issue_id = h.triaged[0][0].issue_id
        resolve = _event(issue_id, LifecycleAction.RESOLVE, IssueStatus.RESOLVED, first.received_at)
        await h.broker.publish(
            resolve.model_dump_json().encode(),
            h.settings.lifecycle_topic,
            headers={"hypercare-message": "event"},
        )
        assert h.store.issues[issue_id].status is IssueStatus.RESOLVED
        await h.send(make_alert(source_ref="alertmanager:x1", minutes=10, event_id="evt-again"))

    assert [d.decision for d, _, _ in h.triaged] == [Decision.CREATED, Decision.REOPENED]
    assert h.store.issues[issue_id].status is IssueStatus.OPEN
    assert any(a.action == "lifecycle.resolve" for a in h.store.audit)


async def test_a_lifecycle_event_postgresql_cannot_store_or_triage_fails_on_is_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = make_report()
    async with harness() as h:
        await h.send(report)
        issue_id = h.triaged[0][0].issue_id
        resolve = _event(issue_id, LifecycleAction.RESOLVE, IssueStatus.RESOLVED, report.received_at)
        marked = {"hypercare-message": "event"}
        nul = resolve.model_copy(update={"comment": "fixed\x00"})
        await h.broker.publish(nul.model_dump_json().encode(), h.settings.lifecycle_topic, headers=marked)

        async def failing(*_: object) -> None:
            raise ZeroDivisionError("a defect")

        with monkeypatch.context() as patched:
            patched.setattr(TriagePipeline, "lifecycle", failing)
            await h.broker.publish(
                resolve.model_dump_json().encode(), h.settings.lifecycle_topic, headers=marked
            )
        status = h.store.issues[issue_id].status

    assert [d.error_class for d in h.dead] == [ErrorClass.CONTROL_CHARACTERS, ErrorClass.PROCESSING_ERROR]
    assert "ZeroDivisionError: a defect" in h.dead[1].reason
    assert status is IssueStatus.OPEN, "neither was applied"


async def test_lifecycle_commands_on_the_shared_topic_are_ignored() -> None:
    report = make_report()
    async with harness() as h:
        await h.send(report)
        issue_id = h.triaged[0][0].issue_id
        command = {"command_id": "c1", "issue_id": issue_id, "action": "resolve", "actor": "me"}
        await h.broker.publish(command, h.settings.lifecycle_topic)
        await h.broker.publish(command, h.settings.lifecycle_topic, headers={"hypercare-message": "command"})
        snooze = _event(issue_id, LifecycleAction.SNOOZE, IssueStatus.SNOOZED, NOW + timedelta(minutes=1))
        await h.broker.publish(snooze.model_dump_json().encode(), h.settings.lifecycle_topic)

    assert h.store.issues[issue_id].status is IssueStatus.SNOOZED
    assert h.dead == []


async def test_an_unexpected_error_in_the_timer_does_not_stop_it() -> None:
    third_tick = asyncio.Event()

    class FailingOnce(FakeIssueStore):
        calls = 0

        async def suppressed_open(self) -> list[IssueState]:
            FailingOnce.calls += 1
            if FailingOnce.calls == 3:
                third_tick.set()
            if FailingOnce.calls == 1:
                raise ValueError("a bug in one tick")
            return await super().suppressed_open()

    settings = TriageSettings(release_interval=0.01, log_json=True)
    app = create_app(settings, store=FailingOnce(), clock=lambda: NOW)
    broker = app.broker
    assert isinstance(broker, KafkaBroker)
    async with TestKafkaBroker(broker), app.start_lifespan_context():
        await asyncio.wait_for(third_tick.wait(), timeout=5)  # the timer went on after the failing tick


@dataclass
class _UnreadableSuppressed(FakeIssueStore):
    """A suppressed issue that no longer reads back, and a decision committed but never confirmed."""

    async def suppressed_open(self) -> list[IssueState]:
        raise ValueError("1 validation error for IssueState")

    async def unpublished(self, *, older_than_seconds: float, limit: int) -> list[OutgoingDecision]:
        return [d for d in self.outbox.values() if d.decision.decision_id not in self.published]


async def test_an_issue_that_no_longer_reads_back_stops_its_release_not_the_outbox_sweep() -> None:
    store = _UnreadableSuppressed()
    late = make_triaged()
    store.outbox[late.decision_id] = OutgoingDecision(late, {HEADER_TRACE_ID: "t"})
    async with harness(store=store) as h:  # the timer ticks once as it starts
        await wait_for(lambda: bool(h.triaged), timeout=5, what="the unconfirmed decision published")

    assert [d.decision_id for d, _, _ in h.triaged] == [late.decision_id]
    assert store.published == {late.decision_id}


def _bare_service(
    settings: TriageSettings,
    broker: KafkaBroker,
    committer: OffsetCommitter,
    store: FakeIssueStore,
    registry: CollectorRegistry | None = None,
    *,
    consumer: Any = None,
) -> _Service:
    """The service's handlers without FastStream's subscriber: batches are handed to ``on_reports``."""
    return _Service(
        settings,
        broker,
        TriageMetrics(registry or CollectorRegistry()),
        committer,
        store=store,
        hints=NoHints(),
        clock=lambda: NOW,
        consumer=lambda: consumer,
    )


@dataclass
class _Record:
    """A consumer record of partition 0 of the normalized topic."""

    offset: int
    value: bytes
    topic: str = TriageSettings().normalized_topic
    partition: int = 0
    key: bytes | None = None
    timestamp: int = 0
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class _Consumer:
    """What the offset committer uses of a consumer: the offsets it committed and where it seeked."""

    committed: dict[TopicPartition, int] = field(default_factory=dict)
    seeks: list[int] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TriageSettings().normalized_topic, 0)}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


@dataclass
class _FailingFirstWrite(FakeIssueStore):
    """Its first write waits for ``release`` and then fails, as a lost connection would."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    failed: bool = False

    async def save_batch(self, *, write: BatchWrite) -> int:
        if not self.failed:
            self.failed = True
            await self.release.wait()
            raise ConnectionResetError("connection lost mid-write")
        return await super().save_batch(write=write)


async def test_after_a_background_write_failed_the_batches_fetched_again_are_written() -> None:
    # The write fails before the next batch arrives: that batch gives up and both are rewound. The
    # failed write must then be forgotten, or every later batch, the refetched ones first, gives up
    # too, and the instance commits nothing again until it restarts.
    settings = TriageSettings(release_interval=3600, log_json=True, overlap_from=1)
    consumer, store = _Consumer(), _FailingFirstWrite()
    store.release.set()  # fails at once
    committer = OffsetCommitter(lambda: consumer, interval_s=0)
    broker = KafkaBroker()
    records = [_Record(offset, make_report(minutes=offset).model_dump_json().encode()) for offset in range(3)]
    async with TestKafkaBroker(broker):
        service = _bare_service(settings, broker, committer, store)
        async with service.lifespan():
            await service.on_reports(records[:2])  # written in the background, and failing
            await wait_for(lambda: store.failed, timeout=5, what="the first write to fail")
            await asyncio.sleep(0)  # let the write task end
            with pytest.raises(BatchAbandonedError):
                await service.on_reports(records[2:])
            await service.on_reports(records)  # what the rewound consumer fetches next
            await service.drain()
        await committer.close()

    assert sorted(store.reports) == sorted(
        NormalizedReport.model_validate_json(r.value).event_id for r in records
    )
    assert consumer.committed == {TopicPartition(TriageSettings().normalized_topic, 0): 3}


async def test_a_batch_handled_during_shutdown_after_a_failed_write_is_fetched_again_with_it() -> None:
    # FastStream runs shutdown hooks (drain) before it stops the subscriber, so a batch can still be
    # handled while the batch in flight is being drained; if that write fails, nothing may be committed
    # past it, whatever came after.
    settings = TriageSettings(release_interval=3600, log_json=True, overlap_from=2)
    consumer, store = _Consumer(), _FailingFirstWrite()
    committer = OffsetCommitter(lambda: consumer, interval_s=0)
    broker = KafkaBroker()
    records = [_Record(offset, make_report(minutes=offset).model_dump_json().encode()) for offset in range(3)]
    async with TestKafkaBroker(broker):
        service = _bare_service(settings, broker, committer, store)
        async with service.lifespan():
            await service.on_reports(records[:2])  # written in the background; the write hangs
            draining = asyncio.create_task(service.drain())
            await asyncio.sleep(0)  # let shutdown begin before the next batch arrives
            handling = asyncio.create_task(service.on_reports(records[2:]))
            store.release.set()
            await draining
            with pytest.raises(BatchAbandonedError):
                await handling
        await committer.close()

    assert consumer.committed == {}, "an offset was committed past a batch that was not written"
    assert min(consumer.seeks) == 0, "the failed batch is fetched again"
    assert store.reports == {}


@dataclass
class _RecordingHints:
    """Hints kept in a dict; records every exchange (what was stored, what was asked)."""

    kept: dict[str, str] = field(default_factory=dict)
    exchanges: list[tuple[dict[str, str], list[str]]] = field(default_factory=list)

    async def exchange(self, *, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str]:
        self.exchanges.append((dict(remember), list(keys)))
        self.kept.update(remember)
        return {key: self.kept[key] for key in keys if key in self.kept}


async def test_a_batch_stores_the_hints_of_the_batches_before_it_in_its_own_lookup() -> None:
    # One round trip per batch: the hints of the batches committed since the last lookup go with it,
    # in commit order (a later batch's hint for a key replaces an earlier one's), and are read back by
    # the very lookup they came with.
    hints = _RecordingHints()
    pipeline = TriagePipeline(FakeIssueStore(), hints, shipped_policies(), clock=lambda: NOW)
    first, second = make_report(minutes=0), make_report(minutes=1, source_ref="zendesk:other")
    lower = await pipeline.decide([Incoming(first, 0.0)])
    upper = await pipeline.decide([Incoming(second, 0.0)], after=lower)  # overlapped: both written
    await pipeline.save(lower)
    await pipeline.save(upper)
    third = make_report(minutes=2, source_ref=first.source_ref)  # the first one's ticket again
    await pipeline.save(await pipeline.decide([Incoming(third, 0.0)]))

    assert [stored for stored, _ in hints.exchanges[:2]] == [{}, {}], "nothing was committed before"
    stored, asked = hints.exchanges[2]
    issue_id = stored[f"ref:{first.source_ref}"]
    assert stored == {
        f"ref:{first.source_ref}": issue_id,
        f"fp:{first.fingerprint}": issue_id,
        f"ref:{second.source_ref}": issue_id,  # the second report joined the first one's issue
    }
    assert f"ref:{first.source_ref}" in asked, "the third batch looked up the key stored with its lookup"
    await pipeline.flush_hints()
    assert hints.exchanges[3] == ({f"ref:{third.source_ref}": issue_id}, [])
    await pipeline.flush_hints()
    assert len(hints.exchanges) == 4, "nothing left to store: no round trip"
    pipeline.close()


@dataclass
class _FirstStoreWaits(_RecordingHints):
    """Hints whose first exchange that stores anything waits for ``release``; ``applied`` lists what each
    exchange stored, in the order they reached the store."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    applied: list[set[str]] = field(default_factory=list)
    waited: bool = False

    async def exchange(self, *, remember: dict[str, str], keys: Sequence[str]) -> dict[str, str]:
        if remember and not self.waited:
            self.waited = True
            await self.release.wait()
        if remember:
            self.applied.append(set(remember))
        return await super().exchange(remember=remember, keys=keys)


async def test_the_timers_flush_never_overtakes_an_exchange_in_flight() -> None:
    # The timer flushes hints beside the batches. Two exchanges in flight at once could reach Redis in
    # either order, and an earlier batch's hint for a key would then replace a later one's.
    hints = _FirstStoreWaits()
    pipeline = TriagePipeline(FakeIssueStore(), hints, shipped_policies(), clock=lambda: NOW)
    first, second = make_report(minutes=0), make_report(minutes=1, source_ref="zendesk:other")
    lower = await pipeline.decide([Incoming(first, 0.0)])
    upper = await pipeline.decide([Incoming(second, 0.0)], after=lower)
    await pipeline.save(lower)
    earlier = asyncio.create_task(pipeline.flush_hints())  # the first batch's hints: held up
    await wait_for(lambda: hints.waited, timeout=5, what="the first exchange to start")
    await pipeline.save(upper)
    later = asyncio.create_task(pipeline.flush_hints())  # the second batch's hints: runs first
    hints.release.set()
    await asyncio.wait_for(asyncio.gather(earlier, later), 5)
    pipeline.close()

    assert len(hints.applied) == 2
    assert f"ref:{first.source_ref}" in hints.applied[0]
    assert f"ref:{second.source_ref}" in hints.applied[1]


async def test_hints_of_an_exchange_cancelled_in_flight_are_stored_by_the_next_one() -> None:
    # Shutdown or a timeout can cancel an exchange while Redis has it: whether it stored them or not,
    # the hints it carried must not be lost (storing one twice does no harm).
    hints = _FirstStoreWaits()
    pipeline = TriagePipeline(FakeIssueStore(), hints, shipped_policies(), clock=lambda: NOW)
    report = make_report(minutes=0)
    await pipeline.save(await pipeline.decide([Incoming(report, 0.0)]))
    cancelled = asyncio.create_task(pipeline.flush_hints())
    await wait_for(lambda: hints.waited, timeout=5, what="the exchange to start")
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await pipeline.flush_hints()
    pipeline.close()

    assert hints.applied == [{f"ref:{report.source_ref}", f"fp:{report.fingerprint}"}]


@dataclass
class _FlakyRedis:
    """A Redis client running the hint exchange's script over a dict; the calls numbered in ``fail``
    time out (counted from 1)."""

    fail: Container[int] = ()
    kept: dict[str, bytes] = field(default_factory=dict)
    calls: int = 0

    def register_script(self, script: str) -> Any:
        async def run(*, keys: list[str], args: list[object]) -> list[bytes | None]:
            self.calls += 1
            if self.calls in self.fail:
                raise RedisTimeoutError("Timeout reading from socket")
            count = int(str(args[-1]))
            self.kept.update(
                {key: str(value).encode() for key, value in zip(keys[:count], args, strict=False)}
            )
            return [self.kept.get(key) for key in keys[count:]]

        return run


async def test_hints_an_exchange_failed_to_store_are_stored_by_the_next_one() -> None:
    # Lost, they would leave Redis with an older hint for their keys (a fingerprint's issue before a new
    # one took over, say): lookups would load that issue instead of asking the index, and miss the new one.
    redis = _FlakyRedis(fail={2})  # the second batch's lookup, carrying the first batch's hints
    client: Any = redis
    hints = RedisHints(client, prefix="p", ttl_seconds=60, pause_seconds=0)
    pipeline = TriagePipeline(FakeIssueStore(), hints, shipped_policies(), clock=lambda: NOW)
    first, second = make_report(minutes=0), make_report(minutes=1, source_ref="zendesk:other")
    await pipeline.save(await pipeline.decide([Incoming(first, 0.0)]))
    await pipeline.save(await pipeline.decide([Incoming(second, 0.0)]))
    await pipeline.flush_hints()
    pipeline.close()

    assert redis.calls == 3
    issue_id = redis.kept[f"p:ref:{first.source_ref}"]
    assert redis.kept == {
        f"p:ref:{first.source_ref}": issue_id,
        f"p:fp:{first.fingerprint}": issue_id,
        f"p:ref:{second.source_ref}": issue_id,
    }


async def test_hints_beyond_what_is_kept_while_redis_is_down_are_dropped_and_counted() -> None:
    settings = TriageSettings(release_interval=3600, log_json=True, hints_pending_max=2)
    client: Any = _FlakyRedis(fail=range(1, 1000))
    hints = RedisHints(client, prefix="p", ttl_seconds=60, pause_seconds=0)
    store = FakeIssueStore()
    app = create_app(settings, store=store, hints=hints, clock=lambda: NOW)
    broker = app.broker
    assert isinstance(broker, KafkaBroker)
    async with TestKafkaBroker(broker), app.start_lifespan_context():
        for minutes in range(3):  # one issue: each report leaves its ticket's hint and the fingerprint's
            report = make_report(minutes=minutes)
            await broker.publish(report.model_dump_json().encode(), settings.normalized_topic)
        dropped = await metric_values(app, "hypercare_triage_hints_dropped_total")

    assert len(store.reports) == 3, "triaged without Redis"
    assert dropped == {(): 2.0}, "the first two tickets' hints, the oldest"


@dataclass
class _TakingConsumer:
    """A consumer of ``partitions`` whose first ``getmany`` returns ``fetched``, its second raises
    ``error`` if given; others return nothing."""

    fetched: list[_Record]
    error: Exception | None = None
    partitions: tuple[int, ...] = (0, 1)
    committed: dict[int, int] = field(default_factory=dict)
    seeks: list[tuple[int, int]] = field(default_factory=list)
    polls: int = 0

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TriageSettings().normalized_topic, p) for p in self.partitions}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition.partition, offset))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update({tp.partition: offset for tp, offset in offsets.items()})

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[_Record]]:
        assert timeout_ms == 0, "polled without waiting"
        self.polls += 1
        if self.polls == 2 and self.error is not None:
            raise self.error
        if self.polls > 1:
            return {}
        return {TopicPartition(TriageSettings().normalized_topic, 1): self.fetched}


@dataclass
class _WritesAfterTaking(FakeIssueStore):
    """Its first write of reports waits until the consumer was polled (so records were taken meanwhile),
    then fails if ``fail`` is set."""

    consumer: _TakingConsumer | None = None
    fail: bool = False
    waits: bool = True
    writes_of_reports: int = 0

    async def save_batch(self, *, write: BatchWrite) -> int:
        self.writes_of_reports += bool(write.reports)
        if write.reports and self.writes_of_reports == 1 and self.waits:
            consumer = self.consumer
            assert consumer is not None
            polls = 2 if consumer.error is not None else 1  # records were taken, then a poll failed
            await wait_for(lambda: consumer.polls >= polls, timeout=5, what="records to be taken")
            if self.fail:
                raise ConnectionResetError("connection lost mid-write")
        return await super().save_batch(write=write)


async def _handle_with_taking(
    *,
    fail: bool = False,
    poll_error: Exception | None = None,
    partitions: tuple[int, ...] = (0, 1),
    draining: bool = False,
) -> tuple[_TakingConsumer, _WritesAfterTaking, CollectorRegistry]:
    settings = TriageSettings(release_interval=3600, log_json=True, overlap_from=1_000_000)
    first = _Record(7, make_report(minutes=0).model_dump_json().encode())
    taken = [
        _Record(
            offset,
            make_report(minutes=1, source_ref=f"zendesk:{offset}").model_dump_json().encode(),
            partition=1,
        )
        for offset in (3, 4)
    ]
    consumer = _TakingConsumer(fetched=taken, error=poll_error, partitions=partitions)
    store = _WritesAfterTaking(consumer=consumer, fail=fail, waits=not draining)
    fake: Any = consumer
    committer = OffsetCommitter(lambda: fake, interval_s=0)
    registry = CollectorRegistry()
    broker = KafkaBroker()
    async with TestKafkaBroker(broker):
        service = _bare_service(settings, broker, committer, store, registry, consumer=fake)
        async with service.lifespan():
            if draining:
                await service.drain()
            if fail or poll_error is not None:
                with pytest.raises(type(poll_error) if poll_error is not None else ConnectionResetError):
                    await service.on_reports([first])
            else:
                await service.on_reports([first])
        await committer.close()
    return consumer, store, registry


async def test_records_fetched_while_a_batch_is_written_in_turn_are_triaged_next_in_the_same_call() -> None:
    consumer, store, registry = await _handle_with_taking(fail=False)

    assert store.writes_of_reports == 2, (
        "the records taken while the first batch was written were the second batch"
    )
    assert len(store.reports) == 3
    assert consumer.committed == {0: 8, 1: 5}
    assert consumer.seeks == []
    assert registry.get_sample_value("hypercare_triage_records_taken_total") == 2


async def test_a_failed_write_in_turn_rewinds_the_records_taken_meanwhile_too() -> None:
    # The taken records are past the consumer's position on their own partition: unless rewound with
    # the failed batch, the next poll would skip them and a later commit would pass them.
    consumer, store, registry = await _handle_with_taking(fail=True)

    assert store.reports == {}
    assert consumer.committed == {}
    assert set(consumer.seeks) == {(0, 7), (1, 3)}
    assert registry.get_sample_value("hypercare_triage_records_taken_total") == 0


async def test_a_poll_failing_during_a_write_in_turn_is_raised_after_the_batch_is_written() -> None:
    # FastStream's own poll would have met the error: it is raised, and nothing taken is lost.
    consumer, store, _ = await _handle_with_taking(poll_error=KafkaConnectionError("broker gone"))

    assert store.writes_of_reports == 1
    assert len(store.reports) == 1
    assert consumer.committed == {0: 8}
    assert consumer.seeks == [(1, 3)], "what was taken before the poll failed is fetched again"


async def test_records_taken_from_a_partition_no_longer_assigned_are_left_to_its_next_owner() -> None:
    consumer, store, registry = await _handle_with_taking(partitions=(0,))

    assert store.writes_of_reports == 1
    assert len(store.reports) == 1
    assert consumer.committed == {0: 8}
    assert registry.get_sample_value("hypercare_triage_records_taken_total") == 0


async def test_nothing_is_taken_in_while_a_batch_is_written_during_shutdown() -> None:
    # FastStream may hand over a batch after the shutdown hooks began; taking more would only add work
    # that the stopping broker may cut short.
    consumer, store, _ = await _handle_with_taking(draining=True)

    assert consumer.polls == 0
    assert store.writes_of_reports == 1
    assert consumer.committed == {0: 8}


@dataclass
class _Refusing(FakeIssueStore):
    """Refuses every write holding the report ``refused`` as PostgreSQL refuses a value (a data error);
    from write ``lost_from`` on, every write fails as a lost connection would."""

    refused: str = ""
    lost_from: int = 1_000_000
    attempts: int = 0

    async def save_batch(self, *, write: BatchWrite) -> int:
        self.attempts += 1
        if self.attempts >= self.lost_from:
            raise ConnectionResetError("connection lost mid-write")
        if any(stored.report.event_id == self.refused for stored in write.reports):
            raise asyncpg.exceptions.InvalidParameterValueError("refused by a trigger")
        return await super().save_batch(write=write)


async def _handle_batches(
    store: FakeIssueStore, batches: Sequence[Sequence[_Record]], *, overlap: bool
) -> tuple[_Consumer, list[DeadLetter], list[TriagedIssue], CollectorRegistry]:
    settings = TriageSettings(release_interval=3600, log_json=True, overlap_from=1 if overlap else 1_000_000)
    consumer = _Consumer()
    fake: Any = consumer
    committer = OffsetCommitter(lambda: fake, interval_s=0)
    registry = CollectorRegistry()
    broker = KafkaBroker()
    dead: list[DeadLetter] = []
    triaged: list[TriagedIssue] = []

    @broker.subscriber(settings.deadletter_topic, decoder=raw_records)
    async def on_dead(record: Any) -> None:
        dead.append(DeadLetter.model_validate_json(record.value))

    @broker.subscriber(settings.triaged_topic, decoder=raw_records)
    async def on_triaged(record: Any) -> None:
        triaged.append(TriagedIssue.model_validate_json(record.value))

    async with TestKafkaBroker(broker):
        service = _bare_service(settings, broker, committer, store, registry)
        async with service.lifespan():
            try:
                for batch in batches:
                    await service.on_reports(batch)
            finally:
                await service.drain()
        await committer.close()
    return consumer, dead, triaged, registry


def _records(reports: Sequence[NormalizedReport], first: int = 0) -> list[_Record]:
    return [_Record(first + i, report.model_dump_json().encode()) for i, report in enumerate(reports)]


@pytest.mark.parametrize("overlap", [False, True], ids=["in turn", "overlapped"])
async def test_a_report_whose_write_the_database_refuses_is_dead_lettered_and_its_batch_stored(
    overlap: bool,
) -> None:
    # A write refused for a reason no check before it knows would be refused on every delivery: the
    # batch is written report by report instead, and only the one at fault is dead-lettered.
    reports = [make_report(minutes=i) for i in range(5)]
    store = _Refusing(refused=reports[1].event_id)
    batches = [_records(reports[:3]), _records(reports[3:], first=3)]  # the second on top of the first

    consumer, dead, triaged, registry = await _handle_batches(store, batches, overlap=overlap)

    assert [(d.error_class, d.offset) for d in dead] == [(ErrorClass.PROCESSING_ERROR, 1)]
    assert "InvalidParameterValueError: refused by a trigger" in dead[0].reason
    assert NormalizedReport.model_validate_json(dead[0].original) == reports[1], "kept whole, to replay"
    assert sorted(store.reports) == sorted(r.event_id for i, r in enumerate(reports) if i != 1)
    assert [s.occurrences for s in store.issues.values()] == [4], "each stored report counted once"
    # The same decisions as the good reports triaged and written one at a time.
    good = [record for batch in batches for record in batch if record.offset != 1]
    _, _, alone, _ = await _handle_batches(FakeIssueStore(), [[record] for record in good], overlap=False)
    assert [(d.decision, d.severity, d.occurrences) for d in triaged] == [
        (d.decision, d.severity, d.occurrences) for d in alone
    ]
    assert triaged[0].decision is Decision.CREATED
    assert consumer.committed == {TopicPartition(TriageSettings().normalized_topic, 0): 5}
    assert registry.get_sample_value("hypercare_triage_batches_split_total") == 1
    if overlap:  # the second batch was triaged on top of the first as decided, not as written
        assert registry.get_sample_value("hypercare_triage_overlap_redone_total", {"why": "retriaged"}) == 1


@dataclass
class _RefusingNotingUnconfirmed(_Refusing):
    """Notes, before each write, how many committed decisions Kafka had not confirmed yet."""

    unconfirmed: list[int] = field(default_factory=list)

    async def save_batch(self, *, write: BatchWrite) -> int:
        self.unconfirmed.append(len(self.outbox.keys() - self.published))
        return await super().save_batch(write=write)


async def test_a_batch_written_report_by_report_publishes_each_reports_decisions_before_the_next() -> None:
    # A batch of a thousand takes seconds written report by report: decisions left unconfirmed in the
    # outbox that long would be published again by the timer's sweep.
    reports = [
        make_report(minutes=i, component=f"svc-{i}", fingerprint=f"svc-{i}:production:fail") for i in range(4)
    ]
    store = _RefusingNotingUnconfirmed(refused=reports[1].event_id)

    _, dead, triaged, _ = await _handle_batches(store, [_records(reports)], overlap=False)

    assert store.unconfirmed == [0] * 5, "the batch, then each report alone, with nothing unconfirmed"
    assert [d.event_id for d in triaged] == [reports[i].event_id for i in (0, 2, 3)]
    assert [d.offset for d in dead] == [1]


async def test_a_lost_connection_while_writing_report_by_report_fetches_the_batch_again() -> None:
    # Only a defect is the report's fault: a failure of the surroundings leaves the batch to be fetched
    # again, and the reports written by then are skipped the next time.
    reports = [make_report(minutes=i) for i in range(3)]
    store = _Refusing(refused=reports[2].event_id, lost_from=3)  # the batch, the first report, then lost

    with pytest.raises(ConnectionResetError):
        await _handle_batches(store, [_records(reports)], overlap=False)

    assert list(store.reports) == [reports[0].event_id]


async def test_a_batch_written_report_by_report_is_triaged_on_the_worker_while_the_next_may_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Overlapped, the next batch is triaged on the worker thread while this one is written: were this
    # one's reports triaged again on the loop's thread meanwhile, two threads would use the candidate
    # index at once.
    threads: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return triage_batch(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "triage_batch", recording)
    reports = [make_report(minutes=i) for i in range(5)]
    store = _Refusing(refused=reports[1].event_id)
    batches = [_records(reports[:3]), _records(reports[3:], first=3)]

    await _handle_batches(store, batches, overlap=True)

    assert threads[0] == "MainThread", "nothing in flight: the first batch on the loop's thread"
    assert len(threads) >= 5, "the first batch, its three reports alone, the second batch"
    assert all(name.startswith("triage") for name in threads[1:]), threads


@dataclass
class _Unreadable(FakeIssueStore):
    """Its issues of fingerprint ``broken`` no longer read back, as a stored state that fails validation."""

    broken: str = ""

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        if self.broken in query.fingerprints:
            IssueState.model_validate_json(b'{"issue_id": "broken"}')
        return await super().load_batch(query=query)


@pytest.mark.parametrize("overlap", [False, True], ids=["in turn", "overlapped"])
async def test_a_report_whose_issue_no_longer_reads_back_is_dead_lettered_and_the_others_stored(
    overlap: bool,
) -> None:
    fine = [make_report(minutes=i) for i in range(4)]
    stuck = make_report(minutes=0.5, fingerprint="checkout:production:broken")
    store = _Unreadable(broken=stuck.fingerprint)
    batches = [_records([fine[0], stuck, fine[1]]), _records(fine[2:], first=3)]

    consumer, dead, _, registry = await _handle_batches(store, batches, overlap=overlap)

    assert [(d.error_class, d.offset) for d in dead] == [(ErrorClass.PROCESSING_ERROR, 1)]
    assert "reading or storing this report failed" in dead[0].reason
    assert "ValidationError" in dead[0].reason
    assert sorted(store.reports) == sorted(r.event_id for r in fine)
    assert [s.occurrences for s in store.issues.values()] == [4], "one issue, each report counted once"
    assert consumer.committed == {TopicPartition(TriageSettings().normalized_topic, 0): 5}
    assert registry.get_sample_value("hypercare_triage_batches_split_total") == 1
    if overlap:  # triaged on top of a batch that seemed to write nothing, and wrote its reports
        assert registry.get_sample_value("hypercare_triage_overlap_redone_total", {"why": "retriaged"}) == 1
