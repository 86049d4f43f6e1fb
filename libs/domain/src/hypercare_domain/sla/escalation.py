"""Escalation steps and re-notifications for issues nobody has acknowledged yet."""

from collections.abc import Sequence
from datetime import datetime

from hypercare_contracts.sla import SlaEventKind

from hypercare_domain.sla.calendar import BusinessCalendar, Pause, find_due
from hypercare_domain.sla.milestone import Milestone, milestone_key
from hypercare_domain.sla.policy import EscalationPolicy
from hypercare_domain.sla.timeline import SlaTimeline


def escalation_milestones(
    timeline: SlaTimeline,
    escalation: EscalationPolicy,
    calendar: BusinessCalendar,
    pauses: Sequence[Pause],
    stop: datetime | None,
) -> list[Milestone]:
    """Escalation steps and re-notifications due before the response clock stops.

    Delays run on the response clock (its calendar and pauses), so an issue on business hours escalates in
    business hours. Re-notifications due at or before a severity raise are left out: the raise itself
    notifies.

    Args:
        timeline: the issue's facts.
        escalation: the issue's escalation policy.
        calendar: the calendar of the issue's response target.
        pauses: the pauses of the response clock.
        stop: when the response clock stopped (acknowledge or resolve), if it has.
    """
    label = f"{escalation.name}/escalation@{calendar.name}"
    milestones: list[Milestone] = []
    if timeline.severity in escalation.severities:
        for step_number, step in enumerate(escalation.steps, start=1):
            due = find_due(timeline.opened_at, step.after, calendar, pauses)
            if due is None or (stop is not None and due >= stop):
                break
            milestones.append(
                Milestone(
                    kind=SlaEventKind.ESCALATION,
                    target=None,
                    due_at=due,
                    key=milestone_key(timeline.issue_id, timeline.cycle, "escalation", step_number),
                    policy=label,
                    escalation_step=step_number,
                    notify=step.notify,
                )
            )
    every = escalation.renotify_every
    if every is None or timeline.severity not in escalation.renotify_severities:
        return milestones
    label = f"{escalation.name}/renotify@{calendar.name}"
    for number in range(1, escalation.renotify_max + 1):
        due = find_due(timeline.opened_at, every * number, calendar, pauses)
        if due is None or (stop is not None and due >= stop):
            break
        if timeline.severity_raised_at is not None and due <= timeline.severity_raised_at:
            continue
        milestones.append(
            Milestone(
                kind=SlaEventKind.RENOTIFY,
                target=None,
                due_at=due,
                key=milestone_key(timeline.issue_id, timeline.cycle, "renotify", number),
                policy=label,
                notify=escalation.notify_at(every * number),
            )
        )
    return milestones
