"""One batch of normalized reports through the store and the triage engine.

Order per batch: read (stored event ids and candidate issues, one statement), triage in memory, write
(one transaction that also queues the decisions), and only then hand the decisions back for
publishing. A batch whose issues another instance changed meanwhile is read and triaged again.
"""

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from hypercare_contracts import DeadLetter, ErrorClass, LifecycleEvent, MergeRule, NormalizedReport
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_domain.triage import (
    BatchResult,
    FailedReport,
    IssueState,
    ReportLink,
    TriagePolicies,
    release_expired,
    triage_batch,
)
from hypercare_domain.triage.memory import SnapshotIndex
from hypercare_runtime.deadletter import NUL_REASON, dead_letter, holds_nul, is_defect, record_dead_letter
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

from hypercare_triage.hints import PENDING_HINTS_MAX, IssueHints, PendingHints, hint_pairs
from hypercare_triage.lifecycle import lifecycle_audit, with_lifecycle
from hypercare_triage.metrics import SERVICE
from hypercare_triage.records import RawRecord

log = get_logger(__name__)

Clock = Callable[[], datetime]

Publish = Callable[[Sequence[OutgoingDecision]], Awaitable[None]]
"""Publishes committed decisions, waits for Kafka's acknowledgement and takes them out of the outbox."""


@dataclass(frozen=True)
class Incoming:
    """A parsed report with the headers its decisions carry on (trace id, ingestion time), and where its
    record was (for a dead letter, should triage fail on it)."""

    report: NormalizedReport
    ingested_at: float
    topic: str = ""
    partition: int | None = None
    offset: int | None = None

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
    """Validate each record as a :class:`NormalizedReport`; one that is not, or that PostgreSQL could not
    store, becomes a dead letter."""
    parsed = Parsed()
    for record in records:
        headers = header_map(record.headers)
        raw = record.value or b""
        try:
            report = NormalizedReport.model_validate_json(raw)
        except ValidationError as exc:
            error_class = ErrorClass.SCHEMA_VIOLATION
            reason = (
                f"not a NormalizedReport: {exc.error_count()} errors, first at "
                f"{'.'.join(str(p) for p in exc.errors()[0]['loc']) or 'the top level'}"
            )
        else:
            if not holds_nul(raw):
                ingested_at = ingested_at_of(headers, kafka_timestamp_ms=record.timestamp)
                parsed.items.append(
                    Incoming(report, ingested_at, record.topic, record.partition, record.offset)
                )
                continue
            error_class, reason = ErrorClass.CONTROL_CHARACTERS, NUL_REASON
        trace_id = trace_id_of(headers, topic=record.topic, partition=record.partition, offset=record.offset)
        parsed.dead.append(
            record_dead_letter(
                record, service=service, error_class=error_class, reason=reason, trace_id=trace_id
            )
        )
    return parsed


def _failed_letter(failed: FailedReport, item: Incoming) -> DeadLetter:
    """The dead letter of a report triage raised on, with the traceback logged."""
    return _letter(item, failed.reason, failed.error, event="triage.report_failed")


def _refused_letter(item: Incoming, error: Exception) -> DeadLetter:
    """The dead letter of a report whose read or write, alone, failed with a defect, with the traceback
    logged."""
    reason = f"reading or storing this report failed, a defect to report: {type(error).__name__}: {error}"
    return _letter(item, reason, error, event="triage.report_refused")


def _letter(item: Incoming, reason: str, error: Exception, *, event: str) -> DeadLetter:
    report = item.report
    log.error(event, event_id=report.event_id, error=type(error).__name__, exc_info=error)
    return dead_letter(
        service=SERVICE,
        raw=report.model_dump_json().encode(),
        error_class=ErrorClass.PROCESSING_ERROR,
        reason=reason,
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        key=report.fingerprint.encode(),
        failed_at=datetime.now(UTC),
        trace_id=report.trace_id,
        headers=item.headers,
    )


@dataclass
class Outcome:
    """What a batch produced: decisions to publish (already committed), and what happened to it."""

    decisions: list[OutgoingDecision] = field(default_factory=list)
    """None left after a batch written report by report with a ``publish`` (published as it went)."""
    result: BatchResult = field(default_factory=BatchResult)
    skipped: int = 0
    stale_reads: int = 0
    retriaged: bool = False
    """Triaged again because the batch it was triaged on top of was not written as decided."""
    ingested_at: list[float] = field(default_factory=list)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Time spent per step, summed over attempts: hints (storing the last batches' and reading this
    one's), load, decide, save (and publish, for a batch written report by report)."""
    dead: list[DeadLetter] = field(default_factory=list)
    """The reports triage failed on (a defect), left out of the write; from the batch's last triage. After
    a split, also the reports whose own read or write failed with a defect."""
    split: bool = False
    """The batch's read, triage or write failed with a defect, and its reports were written one by one."""


@dataclass
class Decided:
    """A batch read and triaged, not written yet (:meth:`TriagePipeline.save` writes it)."""

    batch: list[Incoming]
    outcome: Outcome
    result: BatchResult | None = None
    write: BatchWrite | None = None
    """None: nothing to write (every report was stored already)."""
    ingested_at: list[float] = field(default_factory=list)
    query: CandidateQuery = field(default_factory=CandidateQuery)
    after: "Decided | None" = None
    """The batch this one was triaged on top of, until this one is saved."""
    as_decided: bool = False
    """Once saved: whether what was written is this batch as decided (not triaged again after a
    conflict). A flag, not a reference to what was written: a batch pointing at itself would be a cycle,
    which only the collector frees, and triage's collector runs once a minute."""
    writer: int | None = None
    """Once saved: the transaction that wrote it."""
    unreadable: bool = False
    """Its read or triage failed with a defect: :meth:`TriagePipeline.save` writes it report by report."""


def _on_top_of(
    write: BatchWrite, known: frozenset[str], issues: dict[str, IssueState]
) -> tuple[frozenset[str], dict[str, IssueState]]:
    """What a read shows once ``write`` is committed: its reports stored and its states, where newer
    than the ones read (the same version stays the same object, which the candidate index relies on)."""
    merged = dict(issues)
    for state in write.states:
        read = merged.get(state.issue_id)
        if read is None or read.version <= state.version:
            merged[state.issue_id] = state
    return known | {stored.report.event_id for stored in write.reports}, merged


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
        hints_pending_max: int = PENDING_HINTS_MAX,
        on_hints_dropped: Callable[[int], None] = lambda count: None,
    ) -> None:
        """Wire the pipeline; ``clock`` stamps decisions (tests pass a fixed one). Hints the hint store
        did not take are kept for the next exchange, the newest ``hints_pending_max`` of them; how many
        were dropped beyond that goes to ``on_hints_dropped``."""
        self._store = store
        self._hints = hints
        self._policies = policies
        self._clock = clock
        self._max_attempts = max_attempts
        self._pending_hints = PendingHints(limit=hints_pending_max, on_dropped=on_hints_dropped)
        """Hints of the batches committed and not stored yet, in commit order (a later batch's hint for
        a key replaces an earlier one's)."""
        self._exchanging = asyncio.Lock()
        self._index = SnapshotIndex()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage")

    async def triage(self, items: Sequence[Incoming]) -> Outcome:
        """Triage the reports not stored yet and save them; returns the committed decisions to publish.

        Raises:
            StaleReadError: the batch kept conflicting with another instance ``max_attempts`` times; the
                subscriber rewinds its consumer (``OffsetCommitter.settle``) and the batch is fetched again.
        """
        return await self.save(await self.decide(items))

    async def decide(self, items: Sequence[Incoming], *, after: Decided | None = None) -> Decided:
        """Read and triage a batch; :meth:`save` writes it.

        ``after`` is a batch decided before this one whose write may not be committed yet: its states
        and event ids are taken as stored (they will be once it commits), so this batch can be triaged
        while that one is written. :meth:`save` then checks that it was committed as decided.
        """
        batch = _unique(items)
        outcome = Outcome()
        if not batch:
            return Decided(batch=batch, outcome=outcome)
        plain = CandidateQuery.for_reports(item.report for item in batch)
        keys = [*(f"fp:{fp}" for fp in plain.fingerprints), *(f"ref:{ref}" for ref in plain.refs)]
        clock = _StepClock(outcome.seconds)
        # The batches committed since the last batch's lookup leave their hints in the same round trip,
        # before this batch's are read.
        hints = await self._exchange_hints(keys)
        clock.lap("hints")
        query = plain.with_hints(hints) if hints else plain
        try:
            return await self._decide(batch, query, outcome, clock, after)
        except Exception as exc:
            if not is_defect(exc):
                raise
            # A stored issue that no longer reads back, say: every delivery would fail the same way.
            log.error("triage.batch_unreadable", reports=len(batch), error=type(exc).__name__, exc_info=exc)
            return Decided(batch=batch, outcome=outcome, query=query, after=after, unreadable=True)

    async def _decide(
        self,
        batch: list[Incoming],
        query: CandidateQuery,
        outcome: Outcome,
        clock: _StepClock,
        after: Decided | None,
        *,
        on_worker: bool = False,
    ) -> Decided:
        """Read and triage ``batch``; on the worker thread when ``after`` is given or ``on_worker`` is
        set (a batch triaged again while it is written, when the next batch may be triaged on the worker
        meanwhile: the one thread keeps the two from using the candidate index at once)."""
        outcome.dead = []  # from a triage of this batch before, whose reports may all be stored by now
        snapshot = await self._store.load_batch(query=query)
        clock.lap("load")
        known, issues = snapshot.known_event_ids, snapshot.issues
        if after is not None and after.write is not None:
            known, issues = _on_top_of(after.write, known, issues)
        fresh = [item for item in batch if item.report.event_id not in known]
        outcome.skipped = len(batch) - len(fresh)
        if not fresh:
            return Decided(batch=batch, outcome=outcome, query=query)
        work = partial(
            self._triage, batch, fresh, issues=issues, token=snapshot.token, query=query, outcome=outcome
        )
        if after is None and not on_worker:
            # Nothing is being written: triaged on the loop's own thread. A hand-off to the worker would
            # cost two thread switches, and the loop would wait for the GIL (up to the interpreter's 5 ms
            # switch interval) whenever Kafka woke it meanwhile: at 1,000 reports/s that doubled p99.
            decided = work()
        else:
            # In a thread of its own: the write under way (and Kafka) is served while the batch is
            # triaged, instead of waiting for the whole batch between two of its round trips.
            decided = await asyncio.get_running_loop().run_in_executor(self._worker, work)
        decided.after = after
        clock.lap("decide")
        return decided

    def _triage(
        self,
        batch: list[Incoming],
        fresh: list[Incoming],
        *,
        issues: dict[str, IssueState],
        token: str,
        query: CandidateQuery,
        outcome: Outcome,
    ) -> Decided:
        """Triage ``fresh`` against ``issues`` and make the write (on the loop's thread when no write is
        under way, else on the worker thread; never on both at once, so one thread at a time uses the
        candidate index)."""
        triaged = [item.report for item in fresh]
        index = self._index  # abandon() may start a new one meanwhile: this batch stays with this one
        result = triage_batch(triaged, index.lookup(issues), self._policies, self._clock())
        # The index takes the batch in now, so that the next batch can be triaged on top of it while
        # this one is written; a write that fails or is triaged again starts the index over.
        index.committed(result, triaged)
        by_event = {item.report.event_id: item for item in fresh}
        # Left out of the write, so that a replay after the fix triages them.
        outcome.dead = [_failed_letter(failed, by_event[failed.report.event_id]) for failed in result.failed]
        left_out = {failed.report.event_id for failed in result.failed}
        links = {link.event_id: link for link in result.report_links}
        stored = tuple(
            StoredReport(
                item.report,
                links[item.report.event_id].issue_id if item.report.event_id in links else None,
                links[item.report.event_id].rule if item.report.event_id in links else MergeRule.NEW,
            )
            for item in fresh
            if item.report.event_id not in left_out
        )
        decisions = tuple(
            OutgoingDecision(
                d,
                by_event[d.event_id].headers if d.event_id in by_event else _release_headers(d.decision_id),
            )
            for d in result.decisions
        )
        write = BatchWrite(
            states=tuple(result.states_changed.values()),
            prior_versions={issue_id: state.version for issue_id, state in issues.items()},
            reports=stored,
            audit=tuple(result.audit),
            decisions=decisions,
            recheck=query,
            token=token,
        )
        ingested_at = [by_event[d.event_id].ingested_at for d in result.decisions if d.event_id in by_event]
        return Decided(
            batch=batch,
            outcome=outcome,
            result=result,
            write=write,
            ingested_at=ingested_at,
            query=query,
        )

    async def save(self, decided: Decided, *, publish: Publish | None = None) -> Outcome:
        """Write a decided batch; returns its outcome with the committed decisions to publish.

        A batch triaged on top of another (:meth:`decide`'s ``after``) is written after it, naming its
        transaction as seen; if that batch had to be triaged again before it was committed, this one is
        triaged again too, against what was committed. If the read, triage or write failed with a
        defect, the batch is written report by report (:meth:`_one_by_one`), and each report's
        decisions are handed to ``publish`` once written, when it is given, instead of being returned.

        Raises:
            StaleReadError: the batch kept conflicting with another instance ``max_attempts`` times.
        """
        outcome, after = decided.outcome, decided.after
        decided.after = None  # written by now: no chain of batches kept alive
        clock = _StepClock(outcome.seconds)
        if decided.unreadable:
            return await self._one_by_one(decided, clock, publish)
        try:
            current, seen = await self._on_top_of_written(decided, after, clock)
            return await self._written(decided, current, seen, clock)
        except Exception as exc:
            if not is_defect(exc):
                raise
            log.error(
                "triage.batch_refused", reports=len(decided.batch), error=type(exc).__name__, exc_info=exc
            )
            return await self._one_by_one(decided, clock, publish)

    async def _on_top_of_written(
        self, decided: Decided, after: Decided | None, clock: _StepClock
    ) -> tuple[Decided, tuple[int, ...]]:
        """What to write for ``decided`` now that ``after``, the batch it was triaged on top of, is
        written: itself, naming that batch's transaction as seen; or, if that batch was not written as
        decided, itself triaged again."""
        # Nothing to write stays nothing: the reports of the batch beneath are stored however it is. A
        # batch beneath that could not be read was triaged as if it wrote nothing; it wrote its reports.
        if after is None or (after.write is None and not after.unreadable) or decided.write is None:
            return decided, ()
        if after.as_decided and after.writer is not None:
            return decided, (after.writer,)
        decided.outcome.retriaged = True
        log.info("triage.retriaged", reports=len(decided.batch))
        return await self._again(decided, clock), ()

    async def _written(
        self, decided: Decided, current: Decided, seen: tuple[int, ...], clock: _StepClock
    ) -> Outcome:
        """Write ``current`` (``decided`` or, after a conflict, its batch triaged again), triaging it again
        on each conflict; returns ``decided``'s outcome."""
        outcome = decided.outcome
        for attempt in range(self._max_attempts):
            write, result = current.write, current.result
            if write is None or result is None:
                decided.as_decided = current is decided
                return outcome
            try:
                writer = await self._store.save_batch(write=replace(write, seen_writers=seen))
            except StaleReadError:
                outcome.stale_reads += 1
                log.info("triage.stale_read", attempt=attempt + 1, reports=len(write.reports))
                clock.lap("save")
                if attempt + 1 < self._max_attempts:
                    current, seen = await self._again(decided, clock), ()
                continue
            clock.lap("save")
            decided.as_decided, decided.writer = current is decided, writer
            # Hints are only hints: kept until the next batch's lookup (or the timer's flush) sends them.
            fingerprints = {issue_id: state.fingerprint for issue_id, state in result.states_changed.items()}
            self._pending_hints.add(hint_pairs(write.reports, fingerprints))
            outcome.decisions = list(write.decisions)
            outcome.result = result
            outcome.ingested_at = current.ingested_at
            return outcome
        self.abandon()
        raise StaleReadError(f"batch still conflicting after {self._max_attempts} attempts")

    async def _one_by_one(self, decided: Decided, clock: _StepClock, publish: Publish | None) -> Outcome:
        """After the batch's read, triage or write failed with a defect (a value the store refuses for a
        reason no check before the write knew of, a stored issue that no longer reads back): each report
        read, triaged and written alone, in the batch's order, and one whose own read, triage or write
        fails with a defect dead-lettered, so that it does not hold up its partition for good.

        Each report's decisions are published (``publish``) as soon as it is written: a large batch
        takes seconds this way, about as long as decisions may stay unconfirmed in the outbox before
        the timer's sweep publishes them again, and it would, had they all waited for the batch's end.

        Ends like a batch triaged again: a batch triaged on top of this one is triaged again too. A
        failure that is not a defect (a lost connection) raises, and the batch is fetched again: what
        was written by then is skipped, what was not is written."""
        self.abandon()
        outcome = decided.outcome
        outcome.split, outcome.dead, outcome.skipped = True, [], 0
        outcome.decisions, outcome.ingested_at = [], []
        links: list[ReportLink] = []
        for item in decided.batch:
            try:
                query = CandidateQuery.for_reports((item.report,))
                single = await self._decide([item], query, Outcome(), clock, None, on_worker=True)
                part = await self._written(single, single, (), clock)
            except Exception as exc:
                if not is_defect(exc):
                    raise
                self.abandon()  # it may hold what this report's triage taught it
                outcome.dead.append(_refused_letter(item, exc))
                continue
            if publish is None:
                outcome.decisions.extend(part.decisions)
            elif part.decisions:
                await publish(part.decisions)
                clock.lap("publish")
            outcome.skipped += part.skipped
            outcome.stale_reads += part.stale_reads
            outcome.dead.extend(part.dead)
            outcome.ingested_at.extend(part.ingested_at)
            links.extend(part.result.report_links)
        outcome.result = BatchResult(report_links=links)
        decided.as_decided, decided.writer = False, None
        return outcome

    async def _again(self, decided: Decided, clock: _StepClock) -> Decided:
        """``decided``'s batch read and triaged again, without shortcuts (the hints may be what was
        stale) and with an index started over (it holds what was not written)."""
        self.abandon()
        return await self._decide(
            decided.batch, decided.query.full(), decided.outcome, clock, None, on_worker=True
        )

    def abandon(self) -> None:
        """Forget what batches decided but never written taught the candidate index."""
        self._index = SnapshotIndex()

    def close(self) -> None:
        """Let the triage thread end once its current batch is done, without waiting for it."""
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def flush_hints(self) -> None:
        """Store the hints of the batches committed since the last lookup (the timer calls this, so that
        they reach Redis while no batch comes, and so does the end of the lifespan)."""
        await self._exchange_hints(())

    async def _exchange_hints(self, keys: Sequence[str]) -> dict[str, str]:
        """Send the pending hints and look ``keys`` up, one exchange at a time: the timer's flush runs
        beside the batches, and two exchanges in flight at once (on two Redis connections) could land in
        either order, an earlier batch's hint for a key replacing a later one's."""
        async with self._exchanging:
            pending = self._pending_hints.take()
            if not pending and not keys:
                return {}
            found: dict[str, str] | None = None
            try:
                found = await self._hints.exchange(remember=pending, keys=keys)
            finally:
                if found is None:
                    # Not stored (or cancelled meanwhile): kept for the next exchange, else Redis would
                    # keep an older hint for some key, and a lookup would miss the issue the lost one
                    # named. Storing one twice does no harm.
                    self._pending_hints.put_back(pending)
            return found or {}

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
