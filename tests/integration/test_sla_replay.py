"""Triage decisions delivered again, or the whole triaged topic replayed by a new consumer group, on the real
broker and database: the clocks stay those of the latest decision, and no audit row or SLA event is added.

Targets of seconds (tests/data/policy-fast): the issue opened 22s ago, so every milestone of its critical
cycle (all due by 20s) is emitted as soon as it is planned, and none of the low one (the first at 30s) is.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypercare_contracts.common import Severity
from hypercare_contracts.triaged import Decision, TriagedIssue
from hypercare_runtime.db import apply_migrations, load_migrations, open_pool

from tests.factories.sla import make_triaged
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit
from tests.support.sla import AUTH, Stack, in_process, make_stack

pytestmark = pytest.mark.integration

VERSIONS_RECORDED_FROM = 10
"""The migration that added ``sla_issues.triage_version``."""

CRITICAL_EVENTS = 9
"""Escalation 1-3, renotify 1 and 2, response and resolution at_risk and breached."""


@pytest.fixture
async def stack(kafka: KafkaTestKit, endpoints: Endpoints, database_url: str, group_id: str) -> Stack:
    return await make_stack(kafka, endpoints.kafka_bootstrap, database_url, group_id)


def decision(issue_id: str, version: int, at: datetime, **overrides: Any) -> TriagedIssue:
    """A decision of ``issue_id`` at ``version``, identified as triage identifies it."""
    return make_triaged(
        issue_id=issue_id, decision_id=f"{issue_id}:{version}", version=version, decided_at=at, **overrides
    )


async def what_people_see(stack: Stack, client: httpx.AsyncClient, issue_id: str) -> dict[str, Any]:
    """The issue's severity and clocks from the API, its milestones and its audit rows."""
    response = await client.get(f"/v1/issues/{issue_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    view = response.json()
    audit = await stack.fetch(
        "SELECT dedup_key, action, event_id FROM audit_log WHERE issue_id = $1 ORDER BY audit_id", issue_id
    )
    return {
        "severity": view["severity"],
        "clocks": [(c["target"], c["policy"], c["target_seconds"], c["due_at"]) for c in view["clocks"]],
        "milestones": [(m["key"], m["due_at"], m["emitted_at"]) for m in view["milestones"]],
        "audit": [(r["action"], r["event_id"]) for r in audit],
    }


async def test_replayed_decisions_keep_the_latest_clocks_and_add_no_audit_row_or_sla_event(
    stack: Stack,
) -> None:
    opened = datetime.now(UTC) - timedelta(seconds=22)
    issue_id = f"iss_{uuid.uuid4().hex[:12]}"
    low = decision(issue_id, 1, opened, decision=Decision.CREATED, severity=Severity.LOW)
    critical = decision(
        issue_id,
        2,
        opened + timedelta(seconds=1),
        decision=Decision.RAISED,
        severity=Severity.CRITICAL,
        previous_severity=Severity.LOW,
    )
    async with in_process(stack.settings()) as client:
        await stack.warm_up()
        await stack.triage(low)
        await stack.triage(critical)
        emitted = await stack.sla_events(count=CRITICAL_EVENTS, timeout=30, settle=1.0)
        await stack.wait_consumed()
        latest = await what_people_see(stack, client, issue_id)
        await stack.triage(low)  # delivered again, after the raise
        await stack.wait_consumed()
        after_redelivery = await what_people_see(stack, client, issue_id)
    replay = stack.settings(group_id=f"{stack.group_id}-replay")
    async with in_process(replay) as client:
        await stack.wait_consumed(group_id=replay.group_id)  # probe, low, critical, low again
        after_replay = await what_people_see(stack, client, issue_id)
        emitted_after = await stack.sla_events(count=CRITICAL_EVENTS, timeout=30, settle=2.0)

    assert latest["severity"] == "critical"
    assert [c[:3] for c in latest["clocks"]] == [
        ("response", "critical/response@always", 6.0),
        ("resolution", "critical/resolution@always", 20.0),
    ]
    assert latest["audit"] == [("sla.started", f"{issue_id}:1"), ("sla.rerated", f"{issue_id}:2")]
    assert len(emitted) == CRITICAL_EVENTS
    assert {e.issue_id for e in emitted} == {issue_id}
    assert all(e.severity is Severity.CRITICAL for e in emitted)
    assert after_redelivery == latest
    assert after_replay == latest
    assert [e.event_id for e in emitted_after] == [e.event_id for e in emitted]


async def test_an_issue_stored_before_versions_were_recorded_applies_its_next_decision_once(
    stack: Stack,
) -> None:
    pool = await open_pool(stack.database_url, max_size=1)
    try:
        await apply_migrations(pool, [m for m in load_migrations() if m.version < VERSIONS_RECORDED_FROM])
        issue_id = f"iss_{uuid.uuid4().hex[:12]}"
        await pool.execute(
            "INSERT INTO sla_issues (issue_id, cycle, status, severity, route, escalation_policy, team,"
            " opened_at, version) VALUES ($1, 1, 'open', 'critical', 'payments', 'default', 'payments-team', $2, 3)",
            issue_id,
            datetime.now(UTC),
        )
    finally:
        await pool.close()
    lowered = decision(issue_id, 4, datetime.now(UTC), severity=Severity.LOW)
    async with in_process(stack.settings()) as client:  # migrates the rest
        await stack.warm_up()
        await stack.triage(lowered)
        await stack.wait_consumed()
        first = await what_people_see(stack, client, issue_id)
        await stack.triage(lowered)
        await stack.wait_consumed()
        again = await what_people_see(stack, client, issue_id)
    assert first["severity"] == "low"
    assert first["audit"] == [("sla.rerated", f"{issue_id}:4")]
    assert again == first
