"""The PostgreSQL issue store: concurrent writers cannot open two issues for one problem, an issue
written as changes to its list entries reads back whole, and the outbox keeps only what Kafka has not
confirmed."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from hypercare_contracts import NormalizedReport
from hypercare_domain.policy import default_policy_dir
from hypercare_domain.triage import (
    InMemoryIssues,
    IssueState,
    TriagePolicies,
    load_triage_policies,
    triage_batch,
)
from hypercare_runtime.db import apply_migrations, load_migrations, open_pool
from hypercare_store.issues import PgIssueStore, scope_lock_key
from hypercare_store.ports import (
    BatchWrite,
    CandidateQuery,
    OutgoingDecision,
    Snapshot,
    StaleReadError,
    StoredReport,
)

from tests.support.kafka import wait_for
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


def _write(
    report_query: CandidateQuery,
    snapshot: Snapshot,
    *batch: NormalizedReport,
    policies: TriagePolicies = POLICIES,
) -> BatchWrite:
    """What the service writes for ``batch`` triaged against ``snapshot``."""
    result = triage_batch(batch, InMemoryIssues(snapshot.issues.values()), policies, NOW)
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


async def test_a_writer_that_waited_for_the_lock_sees_the_write_that_held_it(
    store: PgIssueStore, database_url: str
) -> None:
    # Two instances read the same issue, then write at once: one waits for the other's lock inside
    # its write, and must recheck against what the other committed meanwhile (refused), not against
    # what was committed when its own statement began (a lost update).
    seed = make_report()
    query = CandidateQuery.for_reports([seed])
    await store.save_batch(write=_write(query, await store.load_batch(query=query), seed))
    later_a, later_b = make_report(minutes=1), make_report(minutes=2)
    qa, qb = CandidateQuery.for_reports([later_a]), CandidateQuery.for_reports([later_b])
    pools = [await open_pool(database_url) for _ in range(2)]
    holder = await asyncpg.connect(database_url)
    try:
        store_a, store_b = PgIssueStore(pools[0]), PgIssueStore(pools[1])
        write_a = _write(qa, await store_a.load_batch(query=qa), later_a)
        write_b = _write(qb, await store_b.load_batch(query=qb), later_b)
        (scope,) = write_a.lock_scopes
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", scope_lock_key(scope))
            first = asyncio.create_task(store_a.save_batch(write=write_a))
            await wait_for(lambda: _lock_waiters(holder, 1), timeout=10, what="the first writer to wait")
            second = asyncio.create_task(store_b.save_batch(write=write_b))
            await wait_for(lambda: _lock_waiters(holder, 2), timeout=10, what="the second writer to wait")
        outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
        assert sorted(type(outcome).__name__ for outcome in outcomes) == ["StaleReadError", "int"]
        assert await holder.fetchval("SELECT count(*) FROM reports") == 2
        assert await holder.fetchval("SELECT occurrences FROM issues") == 2
    finally:
        await holder.close()
        for pool in pools:
            await pool.close()


async def _lock_waiters(conn: asyncpg.Connection, count: int) -> bool:
    waiting = await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return bool(waiting == count)


async def test_a_known_event_is_reported_by_the_read(store: PgIssueStore) -> None:
    report = make_report()
    query = CandidateQuery.for_reports([report])
    await store.save_batch(write=_write(query, await store.load_batch(query=query), report))
    again = await store.load_batch(query=query)
    assert again.known_event_ids == {report.event_id}


def _small_caps() -> TriagePolicies:
    """The shipped policies with lists capped at a few entries, so that entries leave as others come."""
    grouping = POLICIES.triage.grouping.model_copy(
        update={"max_source_refs": 4, "max_reporters": 3, "max_recent": 3}
    )
    return dataclasses.replace(POLICIES, triage=POLICIES.triage.model_copy(update={"grouping": grouping}))


async def _triage(store: PgIssueStore, policies: TriagePolicies, *batch: NormalizedReport) -> IssueState:
    query = CandidateQuery.for_reports(batch)
    write = _write(query, await store.load_batch(query=query), *batch, policies=policies)
    await store.save_batch(write=write)
    (state,) = write.states
    return state


async def test_a_hot_issue_written_as_changes_reads_back_whole_in_a_fresh_store(
    store: PgIssueStore, database_url: str
) -> None:
    small = _small_caps()
    reports = [make_report(minutes=n) for n in range(12)]  # one ticket each, one problem
    for start in range(0, 12, 3):
        written = await _triage(store, small, *reports[start : start + 3])
    assert written.occurrences == 12
    assert written.source_refs == tuple(r.source_ref for r in reports[-4:])
    assert (len(written.open_refs), len(written.reporters), len(written.recent)) == (4, 3, 3)

    pool = await open_pool(database_url)
    try:
        fresh = PgIssueStore(pool)  # holds nothing: reads the head and the list rows
        snapshot = await fresh.load_batch(query=CandidateQuery.for_reports(reports[:1]))
        assert snapshot.issues == {written.issue_id: written}
        assert await fresh.load_issue(issue_id=written.issue_id) == written
        rows = await pool.fetch("SELECT kind, count(*) AS n FROM issue_members GROUP BY kind")
        counts = {row["kind"]: row["n"] for row in rows}
        assert counts == {0: 4, 1: 4, 2: 3, 3: 3}, "entries that left the lists were deleted"
        head = await pool.fetchval("SELECT state->'source_refs' FROM issues")
        assert head == "[]", "the lists live in issue_members, not in the state column"

        # The fresh store goes on from what it read; a third one reads the result back.
        more = [make_report(minutes=20), make_report(minutes=21)]
        later = await _triage(fresh, small, *more)
        assert later.source_refs == (*written.source_refs[2:], *(r.source_ref for r in more))
        assert await PgIssueStore(pool).load_issue(issue_id=written.issue_id) == later
    finally:
        await pool.close()


async def test_a_state_stored_before_the_list_rows_existed_keeps_its_lists(database_url: str) -> None:
    small = _small_caps()
    reports = [make_report(minutes=n) for n in range(6)]
    (state,) = triage_batch(reports, InMemoryIssues(), small, NOW).states_changed.values()
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool, [m for m in load_migrations() if m.version < 6])
        await pool.execute(
            "INSERT INTO issues (issue_id, fingerprint, component, environment, title, status, severity,"
            " impact, route, team, occurrences, distinct_reporters, version, opened, first_seen, last_seen,"
            " state) VALUES ($1, $2, $3, $4, $5, 'open', 'low', 0, 'r', 't', 6, 3, $6, true, $7, $7, $8)",
            state.issue_id,
            state.fingerprint,
            state.component,
            state.environment,
            state.title,
            state.version,
            NOW,
            state.model_dump_json(),  # the whole state, lists included, as before
        )
        assert 6 in await apply_migrations(pool)
        assert await PgIssueStore(pool).load_issue(issue_id=state.issue_id) == state
        assert await pool.fetchval("SELECT count(*) FROM issue_members") == 4 + 4 + 3 + 3
    finally:
        await pool.close()


async def test_a_batch_diffs_against_what_it_read_even_when_the_cache_could_not_keep_it(
    database_url: str,
) -> None:
    small = _small_caps()
    pool = await open_pool(database_url)
    try:
        await apply_migrations(pool)
        tiny = PgIssueStore(pool, cache_weight=1)  # every state read or written is dropped at once
        first = await _triage(tiny, small, *(make_report(minutes=n) for n in range(3)))
        later = await _triage(tiny, small, make_report(minutes=5))
        assert later.version > first.version
        lowest = await pool.fetchval("SELECT min(seq) FROM issue_members WHERE kind = 2")
        assert lowest >> 24 == first.version, "the reporters kept their rows: a diff, not a rewrite"
        assert await PgIssueStore(pool).load_issue(issue_id=first.issue_id) == later
    finally:
        await pool.close()


async def _write_with_decisions(store: PgIssueStore, *batch: NormalizedReport) -> list[str]:
    """Triage ``batch`` against the store and write it with its decisions; returns their ids."""
    query = CandidateQuery.for_reports(batch)
    snapshot = await store.load_batch(query=query)
    result = triage_batch(batch, InMemoryIssues(snapshot.issues.values()), POLICIES, NOW)
    decisions = tuple(
        OutgoingDecision(d, {"hypercare-trace-id": f"trace-{d.event_id}"}) for d in result.decisions
    )
    await store.save_batch(write=dataclasses.replace(_write(query, snapshot, *batch), decisions=decisions))
    return [d.decision.decision_id for d in decisions]


async def test_a_decision_stays_in_the_outbox_until_kafka_confirmed_it(
    store: PgIssueStore, database_url: str
) -> None:
    confirmed = await _write_with_decisions(store, make_report(fingerprint="checkout:a"))
    unconfirmed = await _write_with_decisions(store, make_report(fingerprint="login:b", component="login"))
    assert confirmed, "the first report opened an issue"
    assert unconfirmed, "so did the second"

    await store.mark_published(decision_ids=confirmed)

    # What the timer sends again: the unconfirmed decision, whole, with its headers; nothing else.
    late = await store.unpublished(older_than_seconds=0, limit=10)
    assert [item.decision.decision_id for item in late] == unconfirmed
    assert late[0].headers == {"hypercare-trace-id": f"trace-{late[0].decision.event_id}"}
    assert await store.unpublished(older_than_seconds=3600, limit=10) == []
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM triage_outbox") == len(unconfirmed)
        await store.mark_published(decision_ids=unconfirmed)
        assert await conn.fetchval("SELECT count(*) FROM triage_outbox") == 0
    finally:
        await conn.close()


async def test_the_migration_drops_the_confirmed_decisions_and_keeps_the_others(database_url: str) -> None:
    pool = await open_pool(database_url, max_size=2)
    try:
        await apply_migrations(pool, [m for m in load_migrations() if m.version < 9])
        await pool.execute(
            "INSERT INTO triage_outbox (decision_id, issue_id, payload, published_at)"
            " VALUES ('confirmed', 'iss_1', '{}', now()), ('unconfirmed', 'iss_1', '{\"x\": 1}', NULL)"
        )
        assert await apply_migrations(pool, [m for m in load_migrations() if m.version <= 9]) == [9]
        rows = await pool.fetch("SELECT decision_id, payload::text FROM triage_outbox")
        assert [(r["decision_id"], r["payload"]) for r in rows] == [("unconfirmed", '{"x": 1}')]
    finally:
        await pool.close()
