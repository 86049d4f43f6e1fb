"""One batch of normalized reports through the store and the triage engine.

Order per batch: read (stored event ids and candidate issues, one statement), triage in memory, write
(one transaction that also queues the decisions), and only then hand the decisions back for
publishing. A batch whose issues another instance changed meanwhile is read and triaged again.
"""

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypercare_contracts import DeadLetter, ErrorClass, LifecycleEvent, MergeRule, NormalizedReport
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_domain.triage import BatchResult, TriagePolicies, release_expired, triage_batch
from hypercare_domain.triage.memory import SnapshotIndex
from hypercare_runtime.deadletter import dead_letter
from hypercare_runtime.logging import get_logger
from hypercare_runtime.tracing import header_map, ingested_at_of, propagate, trace_id_of
from hypercare_store.ports import (
    BatchWrite,
    CandidateQuery,
    IssueStore,
    OutgoingDecision,
    StaleReadError,
    StoredReport,
)
from pydantic import ValidationError

from hypercare_triage.hints import IssueHints, hint_pairs
from hypercare_triage.lifecycle import lifecycle_audit, with_lifecycle
from hypercare_triage.records import RawRecord

log = get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Incoming:
    """A parsed report with the headers its decisions carry on (trace id, ingestion time)."""

    report: NormalizedReport
    ingested_at: float

    @property
    def headers(self) -> dict[str, str]:
        """The trace headers for messages derived from this report."""
        return propagate(self.report.trace_id, self.ingested_at)


@dataclass
class Parsed:
    """A batch of records split into reports and dead letters."""

    items: list[Incoming] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def parse_records(records: Sequence[RawRecord], *, service: str) -> Parsed:
    """Validate each record as a :class:`NormalizedReport`; one that is not becomes a dead letter."""
    parsed = Parsed()
    for record in records:
        headers = header_map(record.headers)
        raw = record.value or b""
        try:
            report = NormalizedReport.model_validate_json(raw)
        except ValidationError as exc:
            parsed.dead.append(
                dead_letter(
                    service=service,
                    raw=raw,
                    error_class=ErrorClass.SCHEMA_VIOLATION,
                    reason=f"not a NormalizedReport: {exc.error_count()} errors, first at "
                    f"{'.'.join(str(p) for p in exc.errors()[0]['loc']) or 'the top level'}",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    failed_at=datetime.now(UTC),
                    trace_id=trace_id_of(
                        headers, topic=record.topic, partition=record.partition, offset=record.offset
                    ),
                )
            )
            continue
        parsed.items.append(Incoming(report, ingested_at_of(headers, kafka_timestamp_ms=record.timestamp)))
    return parsed


@dataclass
class Outcome:
    """What a batch produced: decisions to publish (already committed), and what happened to it."""

    decisions: list[OutgoingDecision] = field(default_factory=list)
    result: BatchResult = field(default_factory=BatchResult)
    skipped: int = 0
    stale_reads: int = 0
    ingested_at: list[float] = field(default_factory=list)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Time spent per step, summed over attempts: remember (waiting for the previous batch's hints to be
    written), hints, load, decide, save."""


def _unique(items: Iterable[Incoming]) -> list[Incoming]:
    seen: dict[str, Incoming] = {}
    for item in items:
        seen.setdefault(item.report.event_id, item)
    return list(seen.values())


def _release_headers(decision_id: str) -> dict[str, str]:
    return {HEADER_TRACE_ID: hashlib.sha256(decision_id.encode()).hexdigest()[:32]}


class _StepClock:
    """Adds the time since the previous lap to a step's total."""

    def __init__(self, totals: defaultdict[str, float]) -> None:
        self._totals, self._last = totals, time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self._totals[step] += now - self._last
        self._last = now


class TriagePipeline:
    """Triage against the store: batches of reports, the release timer, lifecycle events."""

    def __init__(
        self,
        store: IssueStore,
        hints: IssueHints,
        policies: TriagePolicies,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        max_attempts: int = 5,
    ) -> None:
        """Wire the pipeline; ``clock`` stamps decisions (tests pass a fixed one)."""
        self._store = store
        self._hints = hints
        self._policies = policies
        self._clock = clock
        self._max_attempts = max_attempts
        self._remembering: asyncio.Task[None] | None = None
        self._index = SnapshotIndex()

    async def triage(self, items: Sequence[Incoming]) -> Outcome:
        """Triage the reports not stored yet; returns the committed decisions to publish.

        Raises:
            StaleReadError: the batch kept conflicting with another instance ``max_attempts`` times; the
                subscriber rewinds its consumer (``OffsetCommitter.settle``) and the batch is fetched again.
        """
        batch = _unique(items)
        outcome = Outcome()
        if not batch:
            return outcome
        reports = [item.report for item in batch]
        plain = CandidateQuery.for_reports(reports)
        keys = [*(f"fp:{fp}" for fp in plain.fingerprints), *(f"ref:{ref}" for ref in plain.refs)]
        clock = _StepClock(outcome.seconds)
        await self.settle_hints()  # the previous batch's hints, written while it was published
        clock.lap("remember")
        hints = await self._hints.lookup(keys=keys)
        clock.lap("hints")
        for attempt in range(self._max_attempts):
            # After a conflict, no shortcuts: the hints may be what was stale.
            query = plain.with_hints(hints) if attempt == 0 and hints else plain
            snapshot = await self._store.load_batch(query=query)
            clock.lap("load")
            fresh = [item for item in batch if item.report.event_id not in snapshot.known_event_ids]
            outcome.skipped = len(batch) - len(fresh)
            if not fresh:
                return outcome
            triaged = [item.report for item in fresh]
            result = triage_batch(triaged, self._index.lookup(snapshot.issues), self._policies, self._clock())
            links = {link.event_id: link for link in result.report_links}
            stored = tuple(
                StoredReport(
                    item.report,
                    links[item.report.event_id].issue_id if item.report.event_id in links else None,
                    links[item.report.event_id].rule if item.report.event_id in links else MergeRule.NEW,
                )
                for item in fresh
            )
            by_event = {item.report.event_id: item for item in fresh}
            decisions = [
                OutgoingDecision(
                    d,
                    by_event[d.event_id].headers
                    if d.event_id in by_event
                    else _release_headers(d.decision_id),
                )
                for d in result.decisions
            ]
            write = BatchWrite(
                states=tuple(result.states_changed.values()),
                prior_versions={issue_id: state.version for issue_id, state in snapshot.issues.items()},
                reports=stored,
                audit=tuple(result.audit),
                decisions=tuple(decisions),
                recheck=query,
                token=snapshot.token,
            )
            clock.lap("decide")
            try:
                await self._store.save_batch(write=write)
            except StaleReadError:
                outcome.stale_reads += 1
                log.info("triage.stale_read", attempt=attempt + 1, reports=len(fresh))
                continue
            finally:
                clock.lap("save")
            self._index.committed(result, triaged)
            # Hints are only hints: written in the background, the batch's decisions go out sooner.
            self._remembering = asyncio.create_task(self._remember(stored, result))
            outcome.decisions = decisions
            outcome.result = result
            outcome.ingested_at = [
                by_event[d.event_id].ingested_at for d in result.decisions if d.event_id in by_event
            ]
            return outcome
        raise StaleReadError(f"batch still conflicting after {self._max_attempts} attempts")

    async def settle_hints(self) -> None:
        """Wait until the hints of the last batch are written (or given up on)."""
        task, self._remembering = self._remembering, None
        if task is not None:
            await task

    async def _remember(self, stored: Sequence[StoredReport], result: BatchResult) -> None:
        fingerprints = {issue_id: state.fingerprint for issue_id, state in result.states_changed.items()}
        try:
            await self._hints.remember(pairs=hint_pairs(stored, fingerprints))
        except (OSError, ConnectionError, TimeoutError) as exc:
            # The batch is committed; a missing hint only means the next lookup uses the SQL index.
            log.warning("triage.hints_not_saved", error=type(exc).__name__)

    async def release(self) -> list[OutgoingDecision]:
        """RELEASED decisions for suppressed open issues whose window ended (committed first)."""
        states = await self._store.suppressed_open()
        now = self._clock()
        steps = release_expired(states, self._policies, now)
        if not steps:
            return []
        decisions = [
            OutgoingDecision(step.decision, _release_headers(step.decision.decision_id))
            for step in steps
            if step.decision is not None
        ]
        write = BatchWrite(
            states=tuple(step.state for step in steps if step.state is not None),
            prior_versions={state.issue_id: state.version for state in states},
            audit=tuple(entry for step in steps for entry in step.audit),
            decisions=tuple(decisions),
        )
        try:
            await self._store.save_batch(write=write)
        except StaleReadError:
            log.info("triage.release_deferred", issues=len(steps))
            return []
        return decisions

    async def lifecycle(self, event: LifecycleEvent) -> bool:
        """Apply a person's status change to the issue; False when it changed nothing."""
        for _ in range(self._max_attempts):
            state = await self._store.load_issue(issue_id=event.issue_id)
            if state is None:
                log.warning(
                    "triage.lifecycle_unknown_issue", issue_id=event.issue_id, event_id=event.event_id
                )
                return False
            changed = with_lifecycle(state, event)
            if changed is None:
                return False
            write = BatchWrite(
                states=(changed,),
                prior_versions={state.issue_id: state.version},
                audit=(lifecycle_audit(changed, event),),
            )
            try:
                await self._store.save_batch(write=write)
            except StaleReadError:
                continue
            log.info("triage.lifecycle_applied", issue_id=event.issue_id, status=event.to_status.value)
            return True
        raise StaleReadError(f"issue {event.issue_id} kept changing while applying {event.event_id}")
