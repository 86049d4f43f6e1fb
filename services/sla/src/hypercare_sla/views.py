"""What ``GET /v1/issues/{id}`` answers: status, clocks, milestones and the audit trail (no I/O)."""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from hypercare_contracts.common import Severity
from hypercare_contracts.sla import SlaTarget
from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import SlaPolicy, business_time_between, find_due
from hypercare_store.sla import AuditEntry, SlaIssue, StoredMilestone
from pydantic import BaseModel, ConfigDict

from hypercare_sla.planning import effective_status, snoozed_until, waiting_on_customer


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)


class ClockState(StrEnum):
    """Where a clock stands."""

    RUNNING = "running"
    PAUSED = "paused"
    """Stopped by an open-ended pause (waiting on the customer): no due time until it resumes."""
    MET = "met"
    BREACHED = "breached"
    """Past its due time (still running, or stopped late)."""
    NOT_STARTED = "not_started"
    """The issue is suppressed: its clocks start when triage releases it."""


class ClockView(_View):
    """One SLA clock of the current cycle."""

    target: SlaTarget
    policy: str
    """Severity (or route:severity) and calendar, e.g. ``critical/response@always``."""
    target_seconds: float
    due_at: datetime | None
    """The instant the target is reached, given pauses so far; ``None`` while paused indefinitely."""
    business_elapsed_seconds: float
    """Business time from opening to now, or to the instant the clock stopped."""
    stopped_at: datetime | None
    state: ClockState


class MilestoneView(_View):
    """A planned or emitted SLA milestone."""

    key: str
    kind: str
    target: str | None
    due_at: datetime
    emitted_at: datetime | None
    escalation_step: int | None = None
    escalation_target: str | None = None


class AuditView(_View):
    """One audit-log row."""

    at: datetime
    action: str
    actor: str
    event_id: str | None
    detail: dict[str, Any]


class IssueView(_View):
    """An issue as the SLA service knows it."""

    issue_id: str
    status: IssueStatus
    severity: Severity
    route: str
    team: str
    escalation_policy: str | None
    cycle: int
    suppressed: bool
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    waiting_on_customer: bool
    snoozed_until: datetime | None
    clocks: list[ClockView]
    milestones: list[MilestoneView]
    audit: list[AuditView]


def build_view(
    issue: SlaIssue,
    milestones: Sequence[StoredMilestone],
    audit: Sequence[AuditEntry],
    policy: SlaPolicy,
    now: datetime,
) -> IssueView:
    """The view of an issue as of ``now``."""
    t = issue.timeline
    return IssueView(
        issue_id=t.issue_id,
        status=effective_status(issue, now),
        severity=t.severity,
        route=t.route,
        team=issue.team,
        escalation_policy=t.escalation_policy,
        cycle=t.cycle,
        suppressed=issue.suppressed,
        opened_at=t.opened_at,
        acknowledged_at=t.acknowledged_at,
        resolved_at=t.resolved_at,
        waiting_on_customer=waiting_on_customer(t),
        snoozed_until=snoozed_until(t),
        clocks=[_clock(issue, target, policy, now) for target in SlaTarget],
        milestones=[
            MilestoneView(
                key=m.key,
                kind=m.kind,
                target=m.target,
                due_at=m.due_at,
                emitted_at=m.emitted_at,
                escalation_step=m.event.escalation_step,
                escalation_target=m.event.escalation_target,
            )
            for m in milestones
        ],
        audit=[
            AuditView(at=a.at, action=a.action, actor=a.actor, event_id=a.event_id, detail=dict(a.detail))
            for a in audit
        ],
    )


def _clock(issue: SlaIssue, target: SlaTarget, policy: SlaPolicy, now: datetime) -> ClockView:
    t = issue.timeline
    targets = policy.targets_for(t.severity, t.route)
    amount = targets.amount(target)
    pauses = t.pauses_for(target, policy, now)
    stop = t.response_stopped_at if target is SlaTarget.RESPONSE else t.resolved_at
    due = find_due(t.opened_at, amount, targets.calendar, pauses)
    elapsed = business_time_between(t.opened_at, min(stop, now) if stop else now, targets.calendar, pauses)
    if issue.suppressed:
        state = ClockState.NOT_STARTED
    elif stop is not None:
        state = ClockState.MET if due is None or stop <= due else ClockState.BREACHED
    elif due is None:
        state = ClockState.PAUSED
    else:
        state = ClockState.BREACHED if now >= due else ClockState.RUNNING
    return ClockView(
        target=target,
        policy=f"{targets.label}/{target.value}@{targets.calendar.name}",
        target_seconds=amount.total_seconds(),
        due_at=due,
        business_elapsed_seconds=0.0 if issue.suppressed else elapsed.total_seconds(),
        stopped_at=stop,
        state=state,
    )
