"""From an issue's stored facts to the milestones to store, and the status people see (no I/O)."""

from datetime import datetime

from hypercare_contracts.triaged import IssueStatus
from hypercare_domain.sla import SlaPolicy, SlaTimeline, plan, to_event
from hypercare_store.sla import PlannedMilestone, SlaIssue


def with_known_escalation(timeline: SlaTimeline, policy: SlaPolicy) -> SlaTimeline:
    """The timeline with its escalation policy replaced by the default one when the policy does not define it.

    Routes name escalation policies that the SLA policy may not (yet) define; those issues escalate by the
    default policy rather than not at all.
    """
    name = timeline.escalation_policy
    if name is None or name in policy.escalation:
        return timeline
    return timeline.model_copy(update={"escalation_policy": None})


def planned_milestones(issue: SlaIssue, policy: SlaPolicy, now: datetime) -> list[PlannedMilestone]:
    """Every milestone the issue's current cycle should have as of ``now``, each with the event to send.

    A suppressed issue has none. The stored event is dated as if sent on time; the scheduler sets
    ``emitted_at`` and ``late`` when it actually sends it.
    """
    if issue.suppressed:
        return []
    timeline = with_known_escalation(issue.timeline, policy)
    return [
        PlannedMilestone(
            key=m.key,
            issue_id=timeline.issue_id,
            kind=m.kind.value,
            target=m.target.value if m.target is not None else None,
            due_at=m.due_at,
            event=to_event(m, timeline, policy, emitted_at=m.due_at),
        )
        for m in plan(timeline, policy, now)
    ]


def waiting_on_customer(timeline: SlaTimeline) -> bool:
    """Whether the issue is paused waiting on the customer right now (an open-ended pause)."""
    return any(p.end is None for p in timeline.waiting_pauses)


def snoozed_until(timeline: SlaTimeline) -> datetime | None:
    """The end of the latest snooze, if any."""
    return timeline.snoozes[-1].end if timeline.snoozes else None


def effective_status(issue: SlaIssue, now: datetime) -> IssueStatus:
    """The status as of ``now``: a snooze that has run out is over (back to acknowledged or open)."""
    if issue.status is not IssueStatus.SNOOZED:
        return issue.status
    until = snoozed_until(issue.timeline)
    if until is not None and until <= now:
        return IssueStatus.ACKNOWLEDGED if issue.timeline.acknowledged_at is not None else IssueStatus.OPEN
    return issue.status
