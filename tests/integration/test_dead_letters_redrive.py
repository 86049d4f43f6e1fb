"""``hypercare dead-letters`` against the real broker and database: a report triage dead-lettered
because PostgreSQL refused it is listed, redriven once the cause is gone, and stored once however often
it is redriven."""

import asyncio
import sys

import asyncpg
import pytest
from hypercare_cli.dead_letters import HEADER_REDRIVEN_FROM
from hypercare_contracts import Decision, NormalizedReport, TriagedIssue
from hypercare_contracts.topics import HEADER_TRACE_ID
from hypercare_triage.app import create_app
from hypercare_triage.settings import TriageSettings

from tests.support.database import REFUSED_MARK, allow_marked_reports, refuse_marked_reports
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.pipeline import metric_values
from tests.support.services import running
from tests.unit.triage_factories import make_report

pytestmark = pytest.mark.integration


async def _count(database_url: str, query: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _cli(*argv: str) -> tuple[int, str]:
    """Run the command as a user does, in a process of its own; its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hypercare_cli.main",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def test_a_refused_report_is_listed_redriven_once_fixed_and_stored_once(
    kafka: KafkaTestKit,
    endpoints: Endpoints,
    group_id: str,
    database_url: str,
) -> None:
    names = await kafka.topics("normalized", "triaged", "lifecycle", "deadletter", partitions=1)
    settings = TriageSettings(
        kafka_bootstrap=endpoints.kafka_bootstrap,
        database_url=database_url,
        redis_url=endpoints.redis_url,
        group_id=group_id,
        normalized_topic=names["normalized"],
        triaged_topic=names["triaged"],
        lifecycle_topic=names["lifecycle"],
        deadletter_topic=names["deadletter"],
    )
    common = ("--bootstrap", endpoints.kafka_bootstrap, "--topic", names["deadletter"])
    good = [make_report(minutes=i) for i in range(2)]
    refused = make_report(minutes=0.5, title=f"Checkout fails, {REFUSED_MARK}")
    await refuse_marked_reports(database_url)
    for report in (good[0], refused, good[1]):
        await kafka.send(
            names["normalized"],
            report.model_dump_json(),
            key=report.fingerprint.encode(),
            headers={HEADER_TRACE_ID: report.trace_id},
        )

    async def stored(count: int) -> bool:
        return await _count(database_url, "SELECT count(*) FROM reports") >= count

    async with running(create_app(settings)) as app:
        await wait_for(lambda: stored(2), timeout=30, what="the good reports stored")
        await kafka.collect([names["deadletter"]], count=1, timeout=30)

        code, out = await _cli("dead-letters", "list", *common, "--service", "triage")
        assert code == 0
        assert "processing_error" in out
        assert f"{names['normalized']}/0@1" in out, "where it came from"
        assert out.rstrip().endswith("1 of 1 dead letters: triage/processing_error 1")

        code, out = await _cli("dead-letters", "redrive", *common, "--dry-run")
        assert (code, out.splitlines()[0]) == (0, f"would redrive 0:0 -> {names['normalized']}")

        await allow_marked_reports(database_url)  # the cause fixed
        code, out = await _cli("dead-letters", "redrive", *common, "--error-class", "processing_error")
        assert code == 0
        assert out.rstrip().endswith(f"1 redriven, 0 cannot be, of 1 on {names['deadletter']}")
        await wait_for(lambda: stored(3), timeout=30, what="the redriven report stored")

        # Redriven again by mistake: skipped as already stored.
        assert (await _cli("dead-letters", "redrive", *common))[0] == 0
        normalized = await kafka.collect([names["normalized"]], count=5, timeout=30)

        async def skipped() -> bool:
            values = await metric_values(app, "hypercare_triage_reports_skipped_total")
            return values.get((), 0.0) >= 1

        await wait_for(skipped, timeout=30, what="the second redrive skipped as stored")
        decisions = await kafka.collect([names["triaged"]], count=1, timeout=30, settle=1.0)

    redriven = [m for m in normalized if HEADER_REDRIVEN_FROM in m.headers]
    assert [m.headers[HEADER_REDRIVEN_FROM] for m in redriven] == [f"{names['deadletter']}/0/0"] * 2
    assert all(m.headers[HEADER_TRACE_ID] == refused.trace_id for m in redriven)
    assert all(NormalizedReport.model_validate_json(m.value) == refused for m in redriven)
    assert await _count(database_url, "SELECT count(*) FROM reports") == 3
    assert await _count(database_url, "SELECT max(occurrences) FROM issues") == 3
    kinds = [TriagedIssue.model_validate_json(m.value).decision for m in decisions]
    assert kinds.count(Decision.CREATED) == 1


async def test_a_dead_letter_topic_that_does_not_exist_exits_2(endpoints: Endpoints) -> None:
    code, out = await _cli(
        "dead-letters", "list", "--bootstrap", endpoints.kafka_bootstrap, "--topic", "no.such"
    )

    assert code == 2
    assert "no topic 'no.such'" in out
