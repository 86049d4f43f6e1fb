"""The triage service on real Kafka, PostgreSQL and Redis."""

import hashlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from faststream.asgi import AsgiFastStream
from hypercare_contracts import DeadLetter, Decision, ErrorClass, NormalizedReport, TriagedIssue
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_domain.normalize import load_component_map, normalize
from hypercare_domain.policy import default_policy_dir
from hypercare_normalizer.app import create_app as create_normalizer
from hypercare_normalizer.settings import NormalizerSettings
from hypercare_runtime.db import apply_migrations, open_pool
from hypercare_store.issues import PgIssueStore
from hypercare_store.ports import BatchWrite, CandidateQuery, OutgoingDecision, Snapshot
from hypercare_triage.app import create_app
from hypercare_triage.hints import RedisHints
from hypercare_triage.settings import TriageSettings

from tests.factories.raw import make_alertmanager, make_am_alert, make_feedback, make_zendesk
from tests.support.database import REFUSED_MARK, REFUSED_MESSAGE, refuse_marked_reports
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.pipeline import metric_values
from tests.support.services import running
from tests.unit.triage_factories import T0, make_report

pytestmark = pytest.mark.integration


def _settings(
    endpoints: Endpoints,
    names: dict[str, str],
    group_id: str,
    database_url: str,
    redis_url: str | None = None,
) -> TriageSettings:
    return TriageSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url or endpoints.redis_url,
        redis_prefix=f"test:{uuid.uuid4().hex[:10]}",
        group_id=group_id,
        normalized_topic=names["normalized"],
        triaged_topic=names["triaged"],
        lifecycle_topic=names["lifecycle"],
        deadletter_topic=names["deadletter"],
        release_interval=1.0,
    )


async def _fetchval(database_url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def _stored(database_url: str, count: int, timeout: float = 60) -> None:
    async def done() -> bool:
        try:
            return bool(await _fetchval(database_url, "SELECT count(*) FROM reports") >= count)
        except asyncpg.UndefinedTableError:
            return False

    await wait_for(done, timeout=timeout, what=f"{count} reports stored")


async def _publish(kafka: KafkaTestKit, topic: str, reports: Iterable[NormalizedReport]) -> None:
    for report in reports:
        await kafka.send(
            topic,
            report.model_dump_json().encode(),
            key=report.fingerprint.encode(),
            headers={HEADER_TRACE_ID: report.trace_id},
        )


def _decisions(messages: Iterable[Any]) -> list[TriagedIssue]:
    return [TriagedIssue.model_validate_json(m.value) for m in messages]


async def test_raw_events_become_issues_reports_audit_rows_and_decisions(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics(
        "alerts", "tickets", "feedback", "social", "normalized", "triaged", "lifecycle", "deadletter"
    )
    normalizer = create_normalizer(
        NormalizerSettings(
            kafka_bootstrap=endpoints.kafka_bootstrap,
            group_id=f"{group_id}-normalizer",
            raw_tickets_topic=names["tickets"],
            raw_feedback_topic=names["feedback"],
            raw_social_topic=names["social"],
            raw_alerts_topic=names["alerts"],
            normalized_topic=names["normalized"],
            deadletter_topic=names["deadletter"],
        )
    )
    triage = create_app(_settings(endpoints, names, group_id, database_url))
    async with running(normalizer), running(triage):
        await kafka.send(names["alerts"], make_alertmanager(), headers={HEADER_TRACE_ID: "trace-am"})
        await kafka.send(names["tickets"], make_zendesk())
        await kafka.send(names["feedback"], make_feedback())
        await _stored(database_url, 3)
        out = await kafka.collect([names["triaged"]], count=3, timeout=30, settle=1.0)

    issues = {r["issue_id"]: r for r in await _fetch(database_url, "SELECT * FROM issues")}
    reports = await _fetch(database_url, "SELECT * FROM reports")
    audit = await _fetch(database_url, "SELECT * FROM audit_log")
    decisions = _decisions(out)
    assert len(reports) == 3
    assert {r["issue_id"] for r in reports} <= set(issues)
    stored = [NormalizedReport.model_validate_json(r["report"]) for r in reports]
    assert [s.event_id for s in stored] == [r["event_id"] for r in reports], "the report as it arrived"
    assert len(audit) >= 3
    assert {d.issue_id for d in decisions} <= set(issues)
    assert Decision.CREATED in {d.decision for d in decisions}
    assert all(m.key == d.issue_id.encode() for m, d in zip(out, decisions, strict=True))
    alert_decision = next(m for m in out if m.headers.get(HEADER_TRACE_ID) == "trace-am")
    assert TriagedIssue.model_validate_json(alert_decision.value).trace_id == "trace-am"
    assert await _fetchval(database_url, "SELECT count(*) FROM triage_outbox") == 0, (
        "all confirmed, none kept"
    )


_INCOMPRESSIBLE = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(50))
"""3,200 characters PostgreSQL cannot compress into one B-tree entry (at most 2,704 bytes)."""


@pytest.mark.parametrize(
    ("change", "error_class"),
    [
        ({"title": "Checkout fails\x00"}, ErrorClass.CONTROL_CHARACTERS),  # JSON "\u0000": not storable
        ({"source_ref": f"zendesk:{_INCOMPRESSIBLE}"}, ErrorClass.SCHEMA_VIOLATION),  # too long to index
    ],
    ids=["nul", "long key"],
)
async def test_a_report_postgresql_cannot_store_is_dead_lettered_and_its_batch_stored(
    kafka: KafkaTestKit,
    endpoints: Endpoints,
    group_id: str,
    database_url: str,
    change: dict[str, str],
    error_class: ErrorClass,
) -> None:
    # One partition and the records published before triage starts: the three are one batch, whose
    # write would fail for good, and be fetched again for good, if it held the unstorable report.
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=1)
    good = [make_report(minutes=i) for i in range(2)]
    bad = make_report(minutes=0.5).model_copy(update=change)  # as a producer might send it
    await _publish(kafka, names["normalized"], [good[0], bad, good[1]])
    async with running(create_app(_settings(endpoints, names, group_id, database_url))):
        await _stored(database_url, len(good), timeout=30)
        dead = await kafka.collect([names["deadletter"]], count=1, timeout=30)

    stored = await _fetch(database_url, "SELECT event_id FROM reports ORDER BY event_id")
    assert [r["event_id"] for r in stored] == sorted(r.event_id for r in good)
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert (letter.error_class, letter.offset) == (error_class, 1)
    assert f'"event_id":"{bad.event_id}"' in letter.original, "kept to replay"


@pytest.mark.parametrize("overlap_from", [1_000_000, 1], ids=["in turn", "overlapped"])
async def test_a_report_postgresql_refuses_for_a_reason_not_checked_is_dead_lettered_alone(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str, overlap_from: int
) -> None:
    # The whole batch's write is refused on every delivery: unless written report by report, nothing of
    # it, and nothing behind it on the partition, would ever be stored.
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=1)
    good = [make_report(minutes=i) for i in range(6)]
    bad = make_report(minutes=0.5, title=f"Checkout fails, {REFUSED_MARK}")
    settings = _settings(endpoints, names, group_id, database_url).model_copy(
        update={"batch_max_records": 4, "overlap_from": overlap_from}
    )
    await refuse_marked_reports(database_url)
    await _publish(kafka, names["normalized"], [good[0], bad, *good[1:]])  # a backlog: batches of 4
    async with running(create_app(settings)) as app:
        await _stored(database_url, len(good), timeout=30)
        dead = await kafka.collect([names["deadletter"]], count=1, timeout=30, settle=1.0)
        out = await kafka.collect([names["triaged"]], count=1, timeout=30, settle=1.0)
        await wait_for(
            lambda: _offset_reached(endpoints.kafka_bootstrap, group_id, len(good) + 1),
            timeout=30,
            what="offsets committed past the refused report",
        )
        split = await metric_values(app, "hypercare_triage_batches_split_total")

    stored = await _fetch(database_url, "SELECT event_id FROM reports ORDER BY event_id")
    assert [r["event_id"] for r in stored] == sorted(r.event_id for r in good)
    assert [r["occurrences"] for r in await _fetch(database_url, "SELECT occurrences FROM issues")] == [6]
    [letter] = [DeadLetter.model_validate_json(m.value) for m in dead]
    assert (letter.error_class, letter.offset) == (ErrorClass.PROCESSING_ERROR, 1)
    assert REFUSED_MESSAGE in letter.reason
    assert NormalizedReport.model_validate_json(letter.original) == bad, "kept whole, to replay"
    assert _decisions(out)[0].decision is Decision.CREATED
    assert split == {(): 1.0}


class SweptDuringSplitStore(PgIssueStore):
    """The real store, whose write of ``last`` written alone (its batch written report by report) waits
    until the timer swept the outbox after the first report written alone had been in it for longer
    than the sweep's age: as when a batch of a thousand takes seconds to be written report by report."""

    def __init__(self, pool: asyncpg.Pool, *, last: str) -> None:
        super().__init__(pool)
        self.last = last
        self.refused = False
        self.first_alone_at: float | None = None
        self.late_sweeps = 0

    async def save_batch(self, *, write: BatchWrite) -> int:
        if self.refused and any(stored.report.event_id == self.last for stored in write.reports):
            await wait_for(lambda: self.late_sweeps > 0, timeout=30, what="a sweep during the split")
        try:
            writer = await super().save_batch(write=write)
        except asyncpg.CheckViolationError:
            self.refused = True
            raise
        if self.refused and write.reports and self.first_alone_at is None:
            self.first_alone_at = time.monotonic()
        return writer

    async def unpublished(self, *, older_than_seconds: float, limit: int) -> list[OutgoingDecision]:
        since = time.monotonic() - self.first_alone_at if self.first_alone_at is not None else 0.0
        late = await super().unpublished(older_than_seconds=older_than_seconds, limit=limit)
        self.late_sweeps += since > older_than_seconds
        return late


async def test_a_batch_written_report_by_report_publishes_each_decision_once(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    # Written report by report, a batch of a thousand takes about as long as the timer leaves a decision
    # unconfirmed in the outbox before it publishes it again: decisions that waited for the batch's end
    # were published twice.
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=1)
    good = [
        make_report(minutes=i, component=f"svc-{i}", fingerprint=f"svc-{i}:production:fail") for i in range(4)
    ]
    bad = make_report(minutes=0.5, title=f"Checkout fails, {REFUSED_MARK}")
    settings = _settings(endpoints, names, group_id, database_url).model_copy(
        update={"release_interval": 0.2, "outbox_sweep_after": 0.5, "overlap_from": 1_000_000}
    )
    await refuse_marked_reports(database_url)
    await _publish(kafka, names["normalized"], [good[0], bad, *good[1:]])  # one batch
    async with AsyncExitStack() as stack:
        pool = await open_pool(database_url)
        stack.push_async_callback(pool.close)
        store = SweptDuringSplitStore(pool, last=good[-1].event_id)
        app = await stack.enter_async_context(running(create_app(settings, store=store)))
        await _stored(database_url, len(good), timeout=30)
        out = await kafka.collect([names["triaged"]], count=len(good), timeout=30, settle=2.0)
        split = await metric_values(app, "hypercare_triage_batches_split_total")

    assert store.late_sweeps > 0, "the timer swept the outbox while the batch was written"
    assert split == {(): 1.0}
    decisions = _decisions(out)
    assert len({d.decision_id for d in decisions}) == len(decisions), "a decision was published twice"
    assert sorted(d.event_id or "" for d in decisions) == sorted(r.event_id for r in good)
    assert await _fetchval(database_url, "SELECT count(*) FROM triage_outbox") == 0, "all confirmed"


async def test_a_report_whose_stored_issue_no_longer_reads_back_is_dead_lettered_alone(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    # An issue row that fails validation (edited by hand, or written by a later version) would fail
    # every batch that reads it, and hold up every report behind them.
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=1)
    settings = _settings(endpoints, names, group_id, database_url)
    broken, fine = (
        make_report(minutes=0),
        make_report(minutes=1, component="search", fingerprint="search:production:slow"),
    )
    await _publish(kafka, names["normalized"], [broken])
    async with running(create_app(settings)):
        await _stored(database_url, 1, timeout=30)
    await _fetchval(database_url, "UPDATE issues SET state = jsonb_set(state, '{severity}', '\"dire\"')")
    later = make_report(minutes=2)  # the broken issue's fingerprint
    await _publish(kafka, names["normalized"], [later, fine])
    async with running(create_app(settings)):
        await _stored(database_url, 2, timeout=30)
        dead = await kafka.collect([names["deadletter"]], count=1, timeout=30, settle=1.0)
        await wait_for(
            lambda: _offset_reached(endpoints.kafka_bootstrap, group_id, 3),
            timeout=30,
            what="offsets committed past the report of the broken issue",
        )

    stored = await _fetch(database_url, "SELECT event_id FROM reports ORDER BY event_id")
    assert [r["event_id"] for r in stored] == sorted([broken.event_id, fine.event_id])
    [letter] = [DeadLetter.model_validate_json(m.value) for m in dead]
    assert (letter.error_class, letter.offset) == (ErrorClass.PROCESSING_ERROR, 1)
    assert "ValidationError" in letter.reason
    assert "severity" in letter.reason
    assert NormalizedReport.model_validate_json(letter.original) == later, "kept whole, to replay"


async def _group_offset(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)


async def _counts(database_url: str) -> tuple[int, int, int]:
    return (
        await _fetchval(database_url, "SELECT count(*) FROM issues"),
        await _fetchval(database_url, "SELECT count(*) FROM reports"),
        await _fetchval(database_url, "SELECT count(*) FROM audit_log"),
    )


async def test_replaying_the_topic_with_a_new_group_changes_nothing(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter")
    reports = [
        make_report(minutes=i, fingerprint=f"checkout:fp-{i % 3}", title=f"Problem {i % 3} in checkout")
        for i in range(12)
    ]
    async with running(create_app(_settings(endpoints, names, group_id, database_url))):
        await _publish(kafka, names["normalized"], reports)
        await _stored(database_url, len(reports))
        before = await kafka.collect([names["triaged"]], count=1, timeout=30, settle=2.0)
    counts = await _counts(database_url)

    replay_group = f"{group_id}-replay"
    async with running(create_app(_settings(endpoints, names, replay_group, database_url))):
        await wait_for(
            lambda: _offset_reached(endpoints.kafka_bootstrap, replay_group, len(reports)),
            timeout=60,
            what="the replay group to consume the whole topic",
        )
        after = await kafka.collect([names["triaged"]], count=len(before) + 1, timeout=3)

    assert counts[1] == len(reports)
    assert await _counts(database_url) == counts
    assert len(after) == len(before)


async def _offset_reached(bootstrap: str, group: str, count: int) -> bool:
    return await _group_offset(bootstrap, group) >= count


class CountingStore(PgIssueStore):
    """The real store, noting the number of reports each committed write carried."""

    batch_sizes: list[int]

    async def save_batch(self, *, write: BatchWrite) -> int:
        writer = await super().save_batch(write=write)
        if write.reports:
            self.batch_sizes.append(len(write.reports))
        return writer


@asynccontextmanager
async def _instance(settings: TriageSettings, sizes: list[int]) -> AsyncIterator[AsgiFastStream]:
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.database_url.get_secret_value())
        stack.push_async_callback(pool.close)
        await apply_migrations(pool)
        store = CountingStore(pool)
        store.batch_sizes = sizes
        client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
        stack.push_async_callback(client.aclose)
        hints = RedisHints(client, prefix=settings.redis_prefix, ttl_seconds=600)
        yield await stack.enter_async_context(running(create_app(settings, store=store, hints=hints)))


def _all_assigned(*apps: AsgiFastStream) -> bool:
    """Whether the group settled: every partition of every subscribed topic owned by one of ``apps``.

    Stopping an instance while its group still rebalances can leave an aiokafka connection open.
    """
    owned: dict[str, int] = {}
    for app in apps:
        assert app.broker is not None
        for subscriber in app.broker.subscribers:
            consumer: Any = getattr(subscriber, "consumer", None)
            if consumer is None:
                return False
            for partition in consumer.assignment():
                owned[partition.topic] = owned.get(partition.topic, 0) + 1
            if not consumer.assignment():
                return False
    return len(owned) == 2 and all(count == 3 for count in owned.values())


PROBLEMS = {
    "checkout": [
        "Checkout fails with error 500",
        "Coupon field rejects valid codes",
        "Shipping estimate shows wrong date",
    ],
    "login": ["Login page never loads", "Password reset email never arrives", "Avatar upload crashes"],
    "search": ["Search returns no results", "Filters reset after paging", "Typo in search placeholder"],
}


async def test_two_instances_in_one_group_create_no_duplicate_issues(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=3)
    kinds = [
        (component, n, title) for component, titles in PROBLEMS.items() for n, title in enumerate(titles)
    ]
    reports = [
        make_report(
            minutes=i * 0.1,
            component=component,
            fingerprint=f"{component}:production:problem-{n}",
            title=title,
        )
        for i in range(200)
        for component, n, title in [kinds[i % len(kinds)]]
    ]
    duplicates = reports[::10]
    settings = _settings(endpoints, names, group_id, database_url)
    sizes: list[int] = []
    async with _instance(settings, sizes) as one, _instance(settings, sizes) as two:
        await wait_for(lambda: _all_assigned(one, two), timeout=60, what="both instances to own partitions")
        started = time.perf_counter()
        await _publish(kafka, names["normalized"], [*reports, *duplicates])
        await _stored(database_url, len(reports))
        elapsed = time.perf_counter() - started

    rows = await _fetch(
        database_url,
        "SELECT fingerprint, count(*) AS n, sum(occurrences) AS occ FROM issues"
        " WHERE status <> 'resolved' GROUP BY fingerprint",
    )
    print(f"\n200 reports (+{len(duplicates)} duplicates) in {elapsed:.2f}s, committed batch sizes {sizes}")
    assert {r["fingerprint"]: r["n"] for r in rows} == {r.fingerprint: 1 for r in reports}
    assert sum(r["occ"] for r in rows) == len(reports), "an update was lost"
    assert await _fetchval(database_url, "SELECT count(*) FROM reports") == len(reports)
    assert await _fetchval(database_url, "SELECT count(*) FROM reports WHERE issue_id IS NULL") == 0


async def test_a_flapping_alert_is_one_issue_with_its_flap_count(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter")
    components = load_component_map(default_policy_dir())
    reports: list[NormalizedReport] = []
    for cycle in range(6):
        starts = T0 + timedelta(minutes=cycle * 5)
        for status, offset in (("firing", 0), ("resolved", 2)):
            alert = make_am_alert(
                status=status,
                startsAt=starts.isoformat(),
                endsAt=(starts + timedelta(minutes=2)).isoformat()
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
            )
            reports += normalize(
                "hypercare.raw.alerts",
                make_alertmanager(alerts=[alert], status=status),
                received_at=starts + timedelta(minutes=offset),
                trace_id=f"flap-{cycle}-{status}",
                components=components,
            )
    async with running(create_app(_settings(endpoints, names, group_id, database_url))):
        await _publish(kafka, names["normalized"], reports)
        await _stored(database_url, len(reports))

    issues = await _fetch(
        database_url, "SELECT flap_count, status, state->>'reopen_count' AS reopens FROM issues"
    )
    assert len(reports) == 12
    assert len(issues) == 1
    assert issues[0]["flap_count"] == 5
    assert issues[0]["status"] == "resolved"


async def test_flushing_redis_mid_run_loses_nothing(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter")
    base, _, _ = endpoints.redis_url.rpartition("/")
    # Its own logical Redis database, so FLUSHDB touches nothing another test uses.
    settings = _settings(endpoints, names, group_id, database_url, redis_url=f"{base}/15")
    first = [
        make_report(minutes=i, fingerprint=f"checkout:fp-{i}", title=PROBLEMS["checkout"][i])
        for i in range(3)
    ]
    again = [
        make_report(minutes=10 + i, fingerprint=f"checkout:fp-{i}", title=PROBLEMS["checkout"][i])
        for i in range(3)
    ]
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    prefix = settings.redis_prefix
    try:
        async with running(create_app(settings)):
            await _publish(kafka, names["normalized"], first)
            await _stored(database_url, 3)

            async def both_kinds_written() -> list[str]:
                keys = [k.decode() if isinstance(k, bytes) else k for k in await client.keys(f"{prefix}:*")]
                kinds_seen = any(":fp:" in key for key in keys) and any(":ref:" in key for key in keys)
                return keys if kinds_seen else []

            # With the next batch's lookup, or by the timer (every second here) when none comes.
            written = await wait_for(both_kinds_written, timeout=10, what="hints to be written")
            ttls = [await client.ttl(key) for key in written]
            assert all(0 < ttl <= settings.hint_ttl_seconds for ttl in ttls), "every hint expires"
            await client.flushdb()
            await _publish(kafka, names["normalized"], again)
            await _stored(database_url, 6)
    finally:
        await client.aclose()

    rows = await _fetch(database_url, "SELECT fingerprint, occurrences FROM issues ORDER BY fingerprint")
    linked = await _fetch(
        database_url,
        "SELECT issue_id, merged_by FROM reports WHERE event_id = ANY($1::text[])",
        [r.event_id for r in again],
    )
    assert [(r["fingerprint"], r["occurrences"]) for r in rows] == [(f"checkout:fp-{i}", 2) for i in range(3)]
    assert len(linked) == len(again)
    assert {r["merged_by"] for r in linked} == {"fingerprint"}, "later reports joined their issues"


async def test_triage_goes_on_without_redis(
    kafka: KafkaTestKit, endpoints: Endpoints, group_id: str, database_url: str
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter")
    with socket.socket() as sock:  # a port nothing listens on: Redis is down from the start
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(endpoints, names, group_id, database_url, redis_url=f"redis://127.0.0.1:{port}/0")
    reports = [
        make_report(minutes=i, fingerprint=f"checkout:fp-{i % 2}", title=PROBLEMS["checkout"][i % 2])
        for i in range(6)
    ]
    started = time.monotonic()
    async with running(create_app(settings)):
        await _publish(kafka, names["normalized"], reports)
        await _stored(database_url, len(reports), timeout=30)
        out = await kafka.collect([names["triaged"]], count=2, timeout=30, settle=1.0)
    elapsed = time.monotonic() - started

    rows = await _fetch(database_url, "SELECT fingerprint, occurrences FROM issues ORDER BY fingerprint")
    assert [(r["fingerprint"], r["occurrences"]) for r in rows] == [
        ("checkout:fp-0", 3),
        ("checkout:fp-1", 3),
    ]
    assert {d.decision for d in _decisions(out)} >= {Decision.CREATED}
    print(f"\nsix reports triaged without Redis in {elapsed:.1f}s")


class FailingOnceStore(CountingStore):
    """The real store, whose ``fail_at``-th write with reports (or ``fail_read_at``-th read) fails as a
    lost connection would; it counts the writes of batches triaged on top of the batch before while
    that one was written."""

    fail_at = 0
    fail_read_at = 0
    writes = 0
    reads = 0
    overlapped = 0

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        self.reads += 1
        if self.reads == self.fail_read_at:
            raise ConnectionResetError("connection lost mid-read")
        return await super().load_batch(query=query)

    async def save_batch(self, *, write: BatchWrite) -> int:
        if write.reports:
            self.writes += 1
            if self.writes == self.fail_at:
                raise ConnectionResetError("connection lost mid-write")
        self.overlapped += bool(write.seen_writers)
        return await super().save_batch(write=write)


@pytest.mark.parametrize(
    ("failing", "overlapped"), [("write", True), ("read", True), ("write", False)], ids=str
)
async def test_a_failing_write_or_read_loses_and_doubles_nothing(
    kafka: KafkaTestKit,
    endpoints: Endpoints,
    group_id: str,
    database_url: str,
    failing: str,
    overlapped: bool,
) -> None:
    # Overlapped: each batch is triaged while the one before is written. In turn: each batch is written
    # before the next, which is made of the records taken in meanwhile.
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter")
    settings = _settings(endpoints, names, group_id, database_url).model_copy(
        update={"batch_max_records": 4, "overlap_from": 1 if overlapped else 1_000_000}
    )
    reports = [
        make_report(minutes=i * 0.1, fingerprint=f"checkout:fp-{i % 3}", title=PROBLEMS["checkout"][i % 3])
        for i in range(60)
    ]
    async with AsyncExitStack() as stack:
        pool = await open_pool(database_url)
        stack.push_async_callback(pool.close)
        await apply_migrations(pool)
        store = FailingOnceStore(pool)
        store.batch_sizes = []
        if failing == "write":
            store.fail_at = 3
        else:
            store.fail_read_at = 4
        await _publish(kafka, names["normalized"], reports)  # a backlog: batches follow each other
        app = await stack.enter_async_context(running(create_app(settings, store=store)))
        await _stored(database_url, len(reports), timeout=60)
        out = await kafka.collect([names["triaged"]], count=3, timeout=30, settle=1.0)
        redone = await metric_values(app, "hypercare_triage_overlap_redone_total")
        taken = await metric_values(app, "hypercare_triage_records_taken_total")

    rows = await _fetch(database_url, "SELECT fingerprint, occurrences FROM issues ORDER BY fingerprint")
    assert max(store.writes - store.fail_at, store.reads - store.fail_read_at) > 0, "the failure happened"
    if overlapped:
        assert store.overlapped > 0, "batches were triaged on top of the one before while it was written"
        # A failed write is noticed by the batch triaged on top of it, which is fetched again with it.
        assert redone.get((("why", "failed"),), 0.0) == (1 if failing == "write" else 0)
    else:
        assert store.overlapped == 0
        assert taken.get((), 0.0) > 0, "records fetched while a batch was written were the next batch"
    assert [(r["fingerprint"], r["occurrences"]) for r in rows] == [
        (f"checkout:fp-{i}", 20) for i in range(3)
    ]
    assert await _fetchval(database_url, "SELECT count(*) FROM reports") == len(reports)
    created = [d for d in _decisions(out) if d.decision is Decision.CREATED]
    assert len(created) == 3
    assert {d.issue_id for d in created} == set(
        await _fetchval(database_url, "SELECT array_agg(issue_id) FROM issues")
    )
    assert await _fetchval(database_url, "SELECT count(*) FROM triage_outbox") == 0, (
        "all confirmed, none kept"
    )
