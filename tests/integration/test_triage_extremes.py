"""Every report the contract accepts can be triaged, written and read back, however extreme its values.

A valid report that triage or PostgreSQL cannot handle is worse than an invalid one: the batch holding it
fails, is fetched again and fails again, for good, and every report behind it waits. Each case here is a
report at an edge of the contract (longest identifiers in four-byte characters, the ends of the calendar,
the largest counts and amounts); the test triages it twice, as a new issue and as a duplicate, through
the real store, and reads the issue back from a store that holds nothing.
"""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypercare_contracts import NormalizedReport, ReporterKind
from hypercare_contracts.common import COUNT_MAX, INSTANT_MAX, INSTANT_MIN, KEY_MAX
from hypercare_contracts.normalized import TEXT_MAX, TITLE_MAX
from hypercare_runtime.db import open_pool
from hypercare_store.issues import PgIssueStore
from hypercare_store.ports import CandidateQuery

from tests.integration.test_triage_store import POLICIES, _write, store  # noqa: F401 - the fixture
from tests.unit.triage_factories import make_report

pytestmark = pytest.mark.integration

WIDE = "\U0001f600"  # four bytes in UTF-8
KEY = "".join(chr(0x20000 + n * 7919 % 42000) for n in range(KEY_MAX))
"""The longest identifier, in four-byte characters that PostgreSQL cannot compress (as a hash would be)."""
ODD = "a\u0301\u200b\u2028\u202e\ufeff\x01\x7f\ud7ff\uffff"  # combining, zero-width, separators, controls

EXTREMES: dict[str, dict[str, Any]] = {
    "longest identifiers, four-byte characters": {
        "event_id": KEY,
        "source_ref": KEY,
        "component": KEY,
        "environment": KEY[::-1],
        "fingerprint": KEY,
        "references": {"dedup_key": KEY, "alertmanager_fingerprint": KEY[::-1]},
    },
    "longest texts, four-byte characters": {"title": WIDE * TITLE_MAX, "text": WIDE * TEXT_MAX},
    "odd characters everywhere": {
        "event_id": f"e{ODD}",
        "source_ref": f"s{ODD}",
        "component": f"c{ODD}",
        "fingerprint": f"f{ODD}",
        "title": ODD,
        "text": ODD * 100,
        "labels": {ODD: ODD},
        "references": {"dedup_key": ODD},
        "reporter": {"id": ODD},
    },
    "empty identifiers": {"event_id": "", "source_ref": "", "component": "", "fingerprint": "", "title": ""},
    "earliest instant, latest occurrence": {
        "received_at": INSTANT_MIN,
        "occurred_at": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    },
    "latest instant, earliest occurrence east of UTC": {
        "received_at": INSTANT_MAX - timedelta(microseconds=1),
        "occurred_at": datetime(1, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=14))),
    },
    "the largest counts the contract takes": {
        "signals": {
            "users_affected": COUNT_MAX,
            "engagement": COUNT_MAX,
            "revenue_at_risk": 1.7e308,
            "rating": 1,
        },
        "reporter": {"followers": COUNT_MAX, "tier": "enterprise", "verified": True},
        "sentiment": -1.0,
    },
    "a reporter id as long as a message": {"reporter": {"id": "r" * 500_000}},
    "many labels, references and links": {
        "labels": {f"label-{n}": WIDE * 64 for n in range(500)},
        "references": {f"ref-{n}": f"value-{n}" for n in range(500)},
        "links": [{"href": f"https://x.test/{'p' * 2000}/{n}", "text": WIDE * 100} for n in range(50)],
    },
    "a monitor": {"reporter": {"id": None, "kind": ReporterKind.MONITOR}, "sentiment": None},
}


@pytest.mark.parametrize("changes", EXTREMES.values(), ids=EXTREMES.keys())
async def test_a_report_at_the_edges_of_the_contract_is_triaged_stored_and_read_back(
    store: PgIssueStore,  # noqa: F811 - the fixture
    database_url: str,
    changes: dict[str, Any],
) -> None:
    fields = make_report().model_dump()
    for name in ("reporter", "signals"):  # merged into the defaults, not instead of them
        if name in changes:
            changes = {**changes, name: {**fields[name], **changes[name]}}
    first = NormalizedReport.model_validate({**fields, **changes})
    other = {  # another ticket about the same problem
        "event_id": f"{first.event_id[: KEY_MAX - 1]}2",
        "source_ref": f"{first.source_ref[: KEY_MAX - 1]}2",
        "references": {name: f"{value[: KEY_MAX - 1]}2" for name, value in first.references.items()},
    }
    again = first.model_copy(update=other)
    NormalizedReport.model_validate_json(first.model_dump_json())  # still valid on the wire

    for report in (first, again):
        query = CandidateQuery.for_reports([report])
        await store.save_batch(write=_write(query, await store.load_batch(query=query), report))

    pool = await open_pool(database_url)
    try:
        fresh = PgIssueStore(pool)
        snapshot = await fresh.load_batch(query=CandidateQuery.for_reports([first, again]))
        stored = await pool.fetch("SELECT event_id, report FROM reports ORDER BY event_id")
    finally:
        await pool.close()
    assert snapshot.known_event_ids >= {first.event_id, again.event_id}
    (issue,) = snapshot.issues.values()
    assert issue.occurrences == 2, "the second report found the issue the first one opened"
    assert [NormalizedReport.model_validate_json(row["report"]) for row in stored] == sorted(
        (first, again), key=lambda r: r.event_id
    )
