"""``python -m hypercare_sla`` killed with SIGKILL while a deadline is pending, then restarted."""

import asyncio
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypercare_contracts.sla import SlaEventKind, SlaTarget

from tests.factories.sla import make_triaged
from tests.support.environment import Endpoints
from tests.support.kafka import KafkaTestKit, wait_for
from tests.support.sla import Stack, make_stack, seconds_between, start_process

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(kafka: KafkaTestKit, endpoints: Endpoints, database_url: str, group_id: str) -> Stack:
    return await make_stack(kafka, endpoints.kafka_bootstrap, database_url, group_id)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Service processes a test starts; any still running at the end are stopped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def test_after_kill_9_the_missed_breach_is_emitted_once_late_with_its_true_due_time(
    stack: Stack, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    log = tmp_path / "sla.log"
    first = start_process(stack, log)
    processes.append(first)
    await stack.warm_up()
    issue = make_triaged(decided_at=datetime.now(UTC))
    await stack.triage(issue)
    at_risk_key = f"{issue.issue_id}:1:response:at_risk"

    async def at_risk_emitted() -> bool:
        rows = await stack.fetch("SELECT emitted_at FROM sla_milestones WHERE key = $1", at_risk_key)
        return bool(rows) and rows[0]["emitted_at"] is not None

    await wait_for(at_risk_emitted, timeout=15, interval=0.05, what="the at_risk milestone to be emitted")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = datetime.now(UTC)
    due = issue.decided_at + timedelta(seconds=6)
    assert killed_at < due, f"killed too late to test a missed deadline (log: {log.read_text()[-2000:]})"
    before_kill = await stack.sla_events(count=1, timeout=10, settle=0.5)

    await asyncio.sleep(max(0.0, seconds_between(datetime.now(UTC), due)) + 3)
    restarted_at = datetime.now(UTC)
    processes.append(start_process(stack, log))
    # by 9s: escalation 1-3, renotify 1 and 2, response at_risk and breached
    events = await stack.sla_events(count=7, timeout=60, settle=2.0)

    mine = [e for e in events if e.issue_id == issue.issue_id]
    assert {k: n for k, n in Counter(e.event_id for e in events).items() if n > 1} == {}
    assert {e.event_id for e in before_kill} <= {e.event_id for e in events}
    breaches = [e for e in mine if e.kind is SlaEventKind.BREACHED and e.target is SlaTarget.RESPONSE]
    assert len(breaches) == 1, [e.event_id for e in mine]
    breach = breaches[0]
    assert breach.due_at == due
    assert breach.late is True
    assert breach.emitted_at >= restarted_at
    assert at_risk_key in {e.event_id for e in before_kill}
    rows = await stack.fetch(
        "SELECT key FROM sla_milestones WHERE issue_id = $1 AND emitted_at IS NULL AND due_at <= now()",
        issue.issue_id,
    )
    assert rows == []
