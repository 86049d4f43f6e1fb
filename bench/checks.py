"""Correctness at the end of a run: nothing lost, nothing stored twice, no duplicate open issue."""

from dataclasses import dataclass

import asyncpg

from bench.generate import Workload
from bench.passthrough import OffsetWatcher
from bench.pipeline import BenchTopics


@dataclass(frozen=True)
class Check:
    """One expectation and what was found."""

    name: str
    expected: int
    actual: int

    @property
    def ok(self) -> bool:
        """Whether the two agree."""
        return self.expected == self.actual


async def kafka_checks(
    watcher: OffsetWatcher,
    names: BenchTopics,
    workload: Workload,
    *,
    normalizer_group: str,
    triage_group: str | None,
) -> list[Check]:
    """The normalizer's books balance: every raw message consumed, became its reports or one dead letter.

    ``in = out + dead`` is checked per message: the reports written equal the reports the generated good
    messages contain, and the dead letters equal the malformed messages, so together they account for
    every raw message consumed.
    """
    raw = list(names.raw.values())
    checks = [
        Check("raw messages written", len(workload.messages), await watcher.end(raw)),
        Check(
            "raw messages consumed by the normalizer",
            len(workload.messages),
            await watcher.committed(normalizer_group, raw),
        ),
        Check("normalized reports written", workload.expected_reports, await watcher.end([names.normalized])),
        Check("dead letters written", workload.expected_dead, await watcher.end([names.deadletter])),
    ]
    if triage_group is not None:
        checks.append(
            Check(
                "normalized reports consumed by triage",
                workload.expected_reports,
                await watcher.committed(triage_group, [names.normalized]),
            )
        )
    return checks


async def store_checks(conn: asyncpg.Connection, workload: Workload) -> list[Check]:
    """Every distinct report stored exactly once; at most one open issue per fingerprint.

    ``reports.event_id`` is the primary key, so a report delivered twice (redeliveries are part of the
    workload) cannot be stored twice; the count then tells a lost report (fewer) from a report stored
    under a second event id (more).
    """
    stored = await conn.fetchval("SELECT count(*) FROM reports")
    duplicated_open = await conn.fetchval(
        "SELECT count(*) FROM (SELECT fingerprint, environment FROM issues WHERE status <> 'resolved'"
        " GROUP BY fingerprint, environment HAVING count(*) > 1) AS dup"
    )
    orphans = await conn.fetchval(
        "SELECT count(*) FROM reports r WHERE r.issue_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM issues i WHERE i.issue_id = r.issue_id)"
    )
    return [
        Check(
            "reports stored (distinct event ids generated)", workload.expected_distinct_reports, int(stored)
        ),
        Check("fingerprints with more than one open issue", 0, int(duplicated_open)),
        Check("reports pointing at a missing issue", 0, int(orphans)),
    ]
