"""Overlapped writes on the real store: a batch triaged while the one before it is still unwritten ends
as if the batches had been triaged and written one by one."""

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from hypercare_contracts import (
    IssueStatus,
    LifecycleAction,
    LifecycleEvent,
    NormalizedReport,
    ReportAction,
    Via,
)
from hypercare_domain.triage import InMemoryIssues, IssueState, triage_batch
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.issues import PgIssueStore
from hypercare_store.ports import BatchWrite
from hypercare_triage.hints import NoHints
from hypercare_triage.pipeline import Decided, Incoming, TriagePipeline

from tests.unit.triage_factories import make_alert, make_report, shipped_policies

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 4, 12, 30, tzinfo=UTC)
TITLES = {
    "checkout": ["Checkout fails with error 500", "Coupon field rejects valid codes"],
    "login": ["Login page never loads", "Password reset email never arrives"],
    "search": ["Search returns no results", "Filters reset after paging"],
}


class RecordingStore(PgIssueStore):
    """The real store, noting the transactions each write named as seen."""

    seen: list[tuple[int, ...]]

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.pool, self.seen = pool, []

    async def committed(self, issue_id: str) -> IssueState | None:
        """The issue as stored, read by a store that holds nothing yet."""
        return await PgIssueStore(self.pool).load_issue(issue_id=issue_id)

    async def save_batch(self, *, write: BatchWrite) -> int:
        self.seen.append(write.seen_writers)
        return await super().save_batch(write=write)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[RecordingStore]:
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool)
        yield RecordingStore(pool)
    finally:
        await pool.close()


def _workload() -> list[list[NormalizedReport]]:
    """Batches of 25: six problems in three scopes, a flapping alert, repeats of earlier batches'
    reports (redeliveries), and reporters coming back."""
    reports: list[NormalizedReport] = []
    problems = [
        (component, n, title) for component, titles in TITLES.items() for n, title in enumerate(titles)
    ]
    for i in range(300):
        component, n, title = problems[(i * 7) % len(problems)]
        if i % 23 == 0:
            reports.append(
                make_alert(
                    minutes=i * 0.2,
                    action=ReportAction.REPORT if (i // 23) % 2 == 0 else ReportAction.RESOLVE,
                )
            )
            continue
        reports.append(
            make_report(
                minutes=i * 0.2,
                component=component,
                fingerprint=f"{component}:production:problem-{n}",
                title=title if i % 3 else f"{title} (again)",
                reporter={"id": f"cust-{i % 40}", "tier": "enterprise" if i % 11 == 0 else "free"},
            )
        )
    batches = [reports[start : start + 25] for start in range(0, len(reports), 25)]
    for index in range(1, len(batches), 3):
        batches[index] = [*batches[index], *batches[index - 1][:4]]  # redelivered from the batch before
    return batches


def _incoming(batch: list[NormalizedReport]) -> list[Incoming]:
    return [Incoming(report, 0.0) for report in batch]


def _one_by_one(batches: list[list[NormalizedReport]]) -> tuple[list[str], dict[str, str]]:
    """Decisions and final states of the batches triaged in memory, one after the other."""
    issues, seen, decisions = InMemoryIssues(), set[str](), list[str]()
    for batch in batches:
        fresh = list({r.event_id: r for r in batch if r.event_id not in seen}.values())
        seen.update(r.event_id for r in fresh)
        result = triage_batch(fresh, issues, shipped_policies(), NOW)
        issues.apply(result, fresh)
        decisions.extend(d.model_dump_json() for d in result.decisions)
    return decisions, {state.issue_id: state.model_dump_json() for state in issues.all()}


async def _final_states(store: RecordingStore, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for issue_id in ids:
        state = await store.committed(issue_id)
        assert state is not None, f"issue {issue_id} was not written"
        found[issue_id] = state.model_dump_json()
    return found


async def test_each_batch_triaged_before_the_one_before_it_is_written_ends_as_if_written_in_turn(
    store: RecordingStore,
) -> None:
    batches = _workload()
    expected_decisions, expected_states = _one_by_one(batches)
    pipeline = TriagePipeline(store, NoHints(), shipped_policies(), clock=lambda: NOW)

    decisions: list[str] = []
    stale = 0
    before: Decided | None = None
    for batch in batches:
        # Read and triaged before the batch ahead of it is even sent to the database: its read cannot
        # have seen that batch's issues, and its write must still pass the conflict check.
        decided = await pipeline.decide(_incoming(batch), after=before)
        if before is not None:
            outcome = await pipeline.save(before)
            decisions.extend(item.decision.model_dump_json() for item in outcome.decisions)
            stale += outcome.stale_reads
            assert before.as_decided, "a batch was triaged again"
        before = decided
    assert before is not None
    outcome = await pipeline.save(before)
    decisions.extend(item.decision.model_dump_json() for item in outcome.decisions)
    stale += outcome.stale_reads

    assert stale == 0
    assert sum(1 for seen in store.seen if seen) == len(batches) - 1
    assert decisions == expected_decisions
    assert await _final_states(store, sorted(expected_states)) == expected_states


async def test_a_batch_is_triaged_again_when_the_one_beneath_it_was_not_written_as_decided(
    store: RecordingStore,
) -> None:
    pipeline = TriagePipeline(store, NoHints(), shipped_policies(), clock=lambda: NOW)
    first = await pipeline.triage(_incoming([make_report(minutes=0)]))
    issue_id = first.decisions[0].decision.issue_id

    lower = await pipeline.decide(_incoming([make_report(minutes=1, reporter={"id": "cust-a"})]))
    upper = await pipeline.decide(_incoming([make_report(minutes=2, reporter={"id": "cust-b"})]), after=lower)
    # A person acknowledges the issue in between: the lower batch conflicts and is triaged again, so
    # the state the upper batch was triaged on top of was never written.
    acknowledged = LifecycleEvent(
        event_id="ack-1",
        command_id="cmd-ack-1",
        issue_id=issue_id,
        action=LifecycleAction.ACKNOWLEDGE,
        actor="oncall@example.com",
        via=Via.API,
        at=NOW,
        from_status=IssueStatus.OPEN,
        to_status=IssueStatus.ACKNOWLEDGED,
    )
    assert await pipeline.lifecycle(acknowledged)
    lower_outcome = await pipeline.save(lower)
    upper_outcome = await asyncio.wait_for(pipeline.save(upper), timeout=30)

    assert lower_outcome.stale_reads == 1
    assert not lower.as_decided
    assert not upper.as_decided, "the upper batch was written on top of a state never stored"
    assert upper_outcome.stale_reads == 0
    assert upper_outcome.retriaged
    assert not lower_outcome.retriaged
    stored = await store.committed(issue_id)
    assert stored is not None
    assert stored.occurrences == 3
    assert stored.status is IssueStatus.ACKNOWLEDGED


async def test_a_written_batch_is_freed_as_soon_as_it_is_let_go(store: RecordingStore) -> None:
    # Triage freezes the collector between batches and collects once a minute: a batch that only the
    # collector can free (a reference cycle) stays in memory that long, some 5 MB per full batch.
    pipeline = TriagePipeline(store, NoHints(), shipped_policies(), clock=lambda: NOW)
    lower = await pipeline.decide(_incoming([make_report(minutes=0)]))
    upper = await pipeline.decide(_incoming([make_report(minutes=1)]), after=lower)
    await pipeline.save(lower)
    await pipeline.save(upper)
    await pipeline.flush_hints()
    refs = [weakref.ref(lower), weakref.ref(upper)]
    gc.disable()
    try:
        del lower, upper
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()
