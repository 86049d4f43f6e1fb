"""One consumed batch in: plan, skip what was sent, apply storm control, record as pending in PostgreSQL
(with the ``digested`` records in the outbox, in the same transaction).

The batch mixes triage decisions, SLA events and lifecycle events (people's acknowledges and resolves);
the lifecycle topic's commands are not the notifier's and are only counted.

The batch is acknowledged once this returns: the pending rows are the work queue the worker drains,
so a crash after the acknowledgement loses nothing and a crash before it replays harmlessly. A batch
PostgreSQL refuses (a defect) is recorded message by message instead, and only the messages refused on
their own are dead-lettered, so that one message cannot hold up its partition for good.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypercare_contracts import ErrorClass
from hypercare_contracts.deadletter import DeadLetter
from hypercare_contracts.lifecycle import LifecycleEvent
from hypercare_contracts.notifications import DeliveryOutcome
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.topics import HEADER_MESSAGE_KIND, MESSAGE_KIND_EVENT
from hypercare_contracts.triaged import TriagedIssue
from hypercare_domain.notify.digest import digest_id
from hypercare_runtime.deadletter import NUL_REASON, defect_reason, holds_nul, is_defect, record_dead_letter
from hypercare_runtime.kafka import RawRecord as ConsumedRecord
from hypercare_runtime.logging import get_logger
from hypercare_runtime.tracing import header_map, ingested_at_of, trace_id_of
from hypercare_store.deliveries import DeliveryStore, DigestWindow, NewDelivery, NewStatus
from hypercare_store.notifier_outbox import OutboxMessage
from pydantic import ValidationError

from hypercare_notifier.lifecycle import LifecycleOutcome, lifecycle_outcome, plan_lifecycle
from hypercare_notifier.metrics import SERVICE
from hypercare_notifier.planning import (
    Channels,
    Clocks,
    IssueState,
    Plan,
    PlannedDelivery,
    TopicPosition,
    plan_decision,
    plan_sla,
)
from hypercare_notifier.policy import StormPolicy
from hypercare_notifier.records import Recorder, outcome_record
from hypercare_notifier.redis_state import SentMarks, StormCounter, window_of
from hypercare_notifier.snapshots import row_of, state_of

log = get_logger(__name__)

Message = TriagedIssue | SlaEvent | LifecycleEvent


@dataclass(frozen=True, slots=True)
class _Context:
    payload: str
    ingested_at: float
    trace_id: str


_Incoming = tuple[Message, _Context, ConsumedRecord]
"""A parsed message, its stored payload and trace, and the record it came in."""


@dataclass
class _Planned:
    """What planning a run of messages produced, kept apart until it is stored."""

    deliveries: list[tuple[PlannedDelivery, _Context]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    lifecycle: Counter[LifecycleOutcome] = field(default_factory=Counter)


@dataclass
class _Storm:
    """Storm control's verdicts in one delivery of a batch: for each (route, trigger) counted, the
    digest window it was folded into, or ``None`` when it is allowed."""

    verdicts: dict[tuple[str, str], DigestWindow | None] = field(default_factory=dict)


@dataclass
class IntakeResult:
    """What one batch produced."""

    inserted: list[NewDelivery] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    fast_path_hits: int = 0
    lifecycle: Counter[LifecycleOutcome] = field(default_factory=Counter)

    @property
    def wrote_records(self) -> bool:
        """Whether the batch wrote records to the outbox (the ``digested`` ones) for the relay to publish."""
        return any(d.status == "digested" for d in self.inserted)


def _with_issue(event: SlaEvent | LifecycleEvent, state: IssueState, parsed: _Context) -> _Context:
    """An event's stored payload: the event with the issue's last decision, to render with its title."""
    issue = state.issue.model_dump(mode="json") if state.issue is not None else None
    payload = json.dumps({"event": event.model_dump(mode="json"), "issue": issue})
    return _Context(payload, parsed.ingested_at, parsed.trace_id)


def _position(record: ConsumedRecord) -> TopicPosition:
    return TopicPosition(record.partition, record.offset)


class Intake:
    """Turns consumed batches into recorded deliveries."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        marks: SentMarks,
        storm: StormCounter,
        storm_policy: StormPolicy,
        recorder: Recorder,
        channels: Channels,
        route_channels: Callable[[str], Sequence[str]],
        triaged_topic: str,
        sla_topic: str,
        lifecycle_topic: str,
        clock_skew: timedelta,
    ) -> None:
        self._store = store
        self._marks = marks
        self._storm = storm
        self._policy = storm_policy
        self._recorder = recorder
        self._channels = channels
        self._route_channels = route_channels
        self._triaged = triaged_topic
        self._sla = sla_topic
        self._lifecycle = lifecycle_topic
        self._skew = clock_skew

    def _parse(self, record: ConsumedRecord) -> Message:
        raw = record.value or b""
        if record.topic == self._sla:
            return SlaEvent.model_validate_json(raw)
        if record.topic == self._lifecycle:
            return LifecycleEvent.model_validate_json(raw)
        return TriagedIssue.model_validate_json(raw)

    async def handle(self, records: Iterable[ConsumedRecord], *, now: datetime | None = None) -> IntakeResult:
        """Plan and record one batch; returns the new rows and the dead letters.

        The ``digested`` record of each row folded into a digest is written to the outbox with the row.

        Error policy: a message that is not a valid contract, or holds U+0000, is dead-lettered before
        anything is planned; one whose planning raises is dead-lettered ``processing_error`` and the
        batch goes on. If recording the batch fails with a defect (:func:`is_defect`: a value PostgreSQL
        refuses, a stored snapshot that no longer reads back), its messages are recorded one at a time
        and only one whose own recording fails so is dead-lettered ``processing_error``; redelivered,
        the batch would fail the same way for good. Any other failure (the database, Redis or Kafka
        unreachable, or :class:`~hypercare_store.deliveries.SnapshotChanged`: another instance wrote one
        of the batch's snapshots after it was read, as during a rebalance) raises, nothing of the batch
        is stored, and the batch is delivered again and planned on what is stored then: what was
        recorded by then is skipped.
        """
        at = now or datetime.now(UTC)
        result = IntakeResult()
        messages = self._parse_all(records, result, at)
        if not messages:
            return result
        storm = _Storm()
        try:
            await self._record(messages, storm, at, result)
        except Exception as exc:
            if not is_defect(exc):
                raise
            log.error(
                "notifier.batch_refused", messages=len(messages), error=type(exc).__name__, exc_info=exc
            )
            await self._one_by_one(messages, storm, at, result)
        return result

    def _parse_all(
        self, records: Iterable[ConsumedRecord], result: IntakeResult, at: datetime
    ) -> list[_Incoming]:
        """The batch's messages to plan; commands are counted, messages that cannot be read dead-lettered."""
        messages: list[_Incoming] = []
        for record in records:
            headers = header_map(record.headers)
            if record.topic == self._lifecycle and headers.get(HEADER_MESSAGE_KIND) != MESSAGE_KIND_EVENT:
                result.lifecycle[LifecycleOutcome.COMMAND] += 1
                continue
            trace_id = trace_id_of(
                headers, topic=record.topic, partition=record.partition, offset=record.offset
            )
            try:
                message = self._parse(record)
            except ValidationError as exc:
                result.dead.append(self._invalid(record, exc, trace_id, at))
                continue
            if holds_nul(record.value or b""):
                result.dead.append(
                    self._dead(record, ErrorClass.CONTROL_CHARACTERS, NUL_REASON, trace_id, at)
                )
                continue
            payload = message.model_dump_json()
            ingested = ingested_at_of(headers, kafka_timestamp_ms=record.timestamp)
            messages.append((message, _Context(payload, ingested, trace_id), record))
        return messages

    async def _one_by_one(
        self, messages: Sequence[_Incoming], storm: _Storm, at: datetime, result: IntakeResult
    ) -> None:
        """After recording the batch failed with a defect: each message planned and recorded alone, in
        the batch's order, against the snapshots the ones before it stored; one whose own recording fails
        with a defect is dead-lettered. Storm control keeps the verdicts the batch was given."""
        for message in messages:
            try:
                await self._record([message], storm, at, result)
            except Exception as exc:
                if not is_defect(exc):
                    raise
                _, parsed, record = message
                log.exception("notifier.message_refused", topic=record.topic, offset=record.offset)
                reason = defect_reason(SERVICE, exc)
                result.dead.append(
                    self._dead(record, ErrorClass.PROCESSING_ERROR, reason, parsed.trace_id, at)
                )

    async def _record(
        self, messages: Sequence[_Incoming], storm: _Storm, at: datetime, result: IntakeResult
    ) -> None:
        """Plan ``messages`` on their issues' stored snapshots, drop what was sent, apply storm control and
        store it all in one transaction; ``result`` takes what came of them once it is stored."""
        # Snapshots are written (and locked) in issue order, so two instances that hold some of the same
        # issues during a rebalance wait for each other instead of deadlocking.
        ids = sorted({m.issue_id for m, _, _ in messages})
        rows = await self._store.snapshots(ids)
        loaded = {i: state_of(rows.get(i), i) for i in ids}
        revisions = {i: row.revision for i, row in rows.items()}
        states = dict(loaded)
        planned = self._plan_all(messages, states, at)
        sent = await self._marks.already_sent([d.key for d, _ in planned.deliveries])
        fresh = [(d, c) for d, c in planned.deliveries if d.key not in sent]
        existing = await self._store.existing_keys([d.key for d, _ in fresh]) if fresh else set()
        fresh = [(d, c) for d, c in fresh if d.key not in existing]
        deliveries, windows = await self._storm_control(fresh, storm, at)
        changed = [row_of(s, revisions.get(i, 0)) for i, s in states.items() if s != loaded[i]]
        inserted: set[str] = set()
        if changed or deliveries or windows:
            inserted = await self._store.record_intake(
                snapshots=changed,
                deliveries=deliveries,
                windows=windows,
                records=self._digested(deliveries, at),
            )
        result.dead.extend(planned.dead)
        result.lifecycle.update(planned.lifecycle)
        result.fast_path_hits += len(sent)
        result.inserted.extend(d for d in deliveries if d.key in inserted)

    def _digested(self, deliveries: Sequence[NewDelivery], at: datetime) -> dict[str, OutboxMessage]:
        """The ``digested`` record of each delivery folded into a digest, by key."""
        return {
            d.key: self._recorder.record(
                outcome_record(
                    key=d.key,
                    issue_id=d.issue_id,
                    trigger_id=d.trigger_id,
                    channel=d.channel,
                    route=d.route,
                    outcome=DeliveryOutcome.DIGESTED,
                    attempt=1,
                    at=at,
                )
            )
            for d in deliveries
            if d.status == "digested"
        }

    def _plan_all(
        self, messages: Sequence[_Incoming], states: dict[str, IssueState], at: datetime
    ) -> _Planned:
        """Plan each message in order on ``states`` (updated as it goes)."""
        planned = _Planned()
        clocks = Clocks(skew=self._skew, now=at)
        for message, parsed, record in messages:
            before = states[message.issue_id]
            try:  # planning is pure: what it raises, it would raise on every delivery of the batch
                plan = self._plan(message, before, clocks, record)
                context = (
                    parsed if isinstance(message, TriagedIssue) else _with_issue(message, before, parsed)
                )
                outcome = (
                    lifecycle_outcome(message, before, plan, clocks, _position(record))
                    if isinstance(message, LifecycleEvent)
                    else None
                )
            except Exception as exc:  # a defect: this message is dead-lettered, the batch goes on
                log.exception("notifier.message_failed", topic=record.topic, offset=record.offset)
                reason = defect_reason(SERVICE, exc)
                planned.dead.append(
                    self._dead(record, ErrorClass.PROCESSING_ERROR, reason, parsed.trace_id, at)
                )
                continue
            if outcome is not None:
                planned.lifecycle[outcome] += 1
            states[message.issue_id] = plan.state
            planned.deliveries.extend((d, context) for d in plan.deliveries)
        return planned

    def _plan(self, message: Message, state: IssueState, clocks: Clocks, record: ConsumedRecord) -> Plan:
        if isinstance(message, SlaEvent):
            return plan_sla(message, state, self._channels, self._route_channels)
        if isinstance(message, LifecycleEvent):
            return plan_lifecycle(message, state, self._channels, clocks, position=_position(record))
        return plan_decision(message, state, self._channels, clocks)

    async def _storm_control(
        self, fresh: list[tuple[PlannedDelivery, _Context]], storm: _Storm, at: datetime
    ) -> tuple[list[NewDelivery], list[DigestWindow]]:
        """Count new limited triggers per route; those past the route's limit are folded into its digest.

        A trigger ``storm`` holds a verdict on (its batch was counted, then refused and recorded message
        by message) keeps that verdict and is not counted again; nor is one counted in the window before
        (its batch was delivered again after its write failed): the counter counts a trigger once.
        """
        triggers: dict[str, list[str]] = {}
        for d, _ in fresh:
            if d.limited and d.skip is None and (d.route, d.trigger_id) not in storm.verdicts:
                counted = triggers.setdefault(d.route, [])
                if d.trigger_id not in counted:
                    counted.append(d.trigger_id)
        if triggers:
            window = window_of(at, self._policy.window_seconds)
            allowed = await self._storm.take(
                triggers, window, {r: self._policy.limit_for(r) for r in triggers}
            )
            for route, ts in triggers.items():
                digest = DigestWindow(digest_id(route, window.end), route, window.start, window.end)
                for trigger in ts:
                    storm.verdicts[route, trigger] = None if trigger in allowed.get(route, ()) else digest
        windows: dict[str, DigestWindow] = {}
        deliveries = []
        for d, c in fresh:
            status: NewStatus = "pending"
            folded: DigestWindow | None = None
            if d.skip is not None:
                status = "skipped"
            elif d.limited:
                folded = storm.verdicts.get((d.route, d.trigger_id))
            if folded is not None:
                status = "digested"
                windows[folded.digest_id] = folded
            deliveries.append(
                NewDelivery(
                    key=d.key,
                    issue_id=d.issue_id,
                    trigger_id=d.trigger_id,
                    trigger_kind=d.trigger_kind.value,
                    step=d.step,
                    channel=d.channel,
                    route=d.route,
                    kind=None if d.kind is None else d.kind.value,
                    status=status,
                    payload=c.payload,
                    digest_id=None if folded is None else folded.digest_id,
                    ingested_at=c.ingested_at,
                    trace_id=c.trace_id,
                    note=None if d.skip is None else f"skipped: issue {d.skip.value}",
                )
            )
        return deliveries, list(windows.values())

    def _invalid(
        self, record: ConsumedRecord, exc: ValidationError, trace_id: str, at: datetime
    ) -> DeadLetter:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        reason = f"not a valid message of {record.topic}: {problems}"
        return self._dead(record, ErrorClass.SCHEMA_VIOLATION, reason, trace_id, at)

    @staticmethod
    def _dead(
        record: ConsumedRecord, error_class: ErrorClass, reason: str, trace_id: str, at: datetime
    ) -> DeadLetter:
        return record_dead_letter(
            record, service=SERVICE, error_class=error_class, reason=reason, trace_id=trace_id, failed_at=at
        )
