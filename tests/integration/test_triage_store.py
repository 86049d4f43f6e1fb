"""The PostgreSQL issue store: concurrent writers cannot open two issues for one problem."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from hypercare_contracts import NormalizedReport
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import InMemoryIssues, load_triage_policies, triage_batch
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.issues import PgIssueStore
from hypercare_store.ports import BatchWrite, CandidateQuery, Snapshot, StaleReadError, StoredReport

from tests.unit.triage_factories import make_report

pytestmark = pytest.mark.integration

POLICIES = load_triage_policies(default_policy_dir())
NOW = datetime(2025, 6, 4, 12, 30, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PgIssueStore]:
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool)
        yield PgIssueStore(pool)
    finally:
        await pool.close()


def _write(report_query: CandidateQuery, snapshot: Snapshot, *batch: NormalizedReport) -> BatchWrite:
    """What the service writes for ``batch`` triaged against ``snapshot``."""
    result = triage_batch(batch, InMemoryIssues(snapshot.issues.values()), POLICIES, NOW)
    links = {link.event_id: link for link in result.report_links}
    return BatchWrite(
        states=tuple(result.states_changed.values()),
        prior_versions={i: s.version for i, s in snapshot.issues.items()},
        reports=tuple(StoredReport(r, links[r.event_id].issue_id, links[r.event_id].rule) for r in batch),
        audit=tuple(result.audit),
        recheck=report_query,
        token=snapshot.token,
    )


async def test_two_writers_triaging_the_same_problem_from_one_read_state_conflict(
    store: PgIssueStore,
) -> None:
    first, second = make_report(), make_report(minutes=1, title="Checkout fails with error 500 again")
    query_a, query_b = CandidateQuery.for_reports([first]), CandidateQuery.for_reports([second])
    read_a = await store.load_batch(query=query_a)
    read_b = await store.load_batch(query=query_b)  # neither sees the other's new issue

    await store.save_batch(write=_write(query_a, read_a, first))
    with pytest.raises(StaleReadError):
        await store.save_batch(write=_write(query_b, read_b, second))

    retry = await store.load_batch(query=query_b)
    await store.save_batch(write=_write(query_b, retry, second))
    issues = list(retry.issues)
    assert len(issues) == 1
    stored = await store.load_issue(issue_id=issues[0])
    assert stored is not None
    assert stored.occurrences == 2


async def test_a_lost_update_is_refused(store: PgIssueStore, database_url: str) -> None:
    first = make_report()
    query = CandidateQuery.for_reports([first])
    await store.save_batch(write=_write(query, await store.load_batch(query=query), first))
    later_a, later_b = make_report(minutes=1), make_report(minutes=2)
    qa, qb = CandidateQuery.for_reports([later_a]), CandidateQuery.for_reports([later_b])
    read_a, read_b = await store.load_batch(query=qa), await store.load_batch(query=qb)

    await store.save_batch(write=_write(qa, read_a, later_a))
    with pytest.raises(StaleReadError):
        await store.save_batch(write=_write(qb, read_b, later_b))

    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT occurrences FROM issues") == 2
        assert await conn.fetchval("SELECT count(*) FROM reports") == 2
    finally:
        await conn.close()


async def test_a_known_event_is_reported_by_the_read(store: PgIssueStore) -> None:
    report = make_report()
    query = CandidateQuery.for_reports([report])
    await store.save_batch(write=_write(query, await store.load_batch(query=query), report))
    again = await store.load_batch(query=query)
    assert again.known_event_ids == {report.event_id}
