"""Planning an issue's SLA milestones from its facts, and turning a due milestone into an event.

The SLA service calls :func:`plan` whenever a fact changes (opened, severity changed, acknowledged, resolved,
paused, resumed, snoozed, reopened), upserts the milestones by ``key`` (updating ``due_at`` of those not yet
emitted, deleting unemitted ones no longer planned, never touching emitted ones), and emits each with
:func:`to_event` once its ``due_at`` has passed.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget

from hypercare_domain.sla.calendar import Pause, business_time_between, find_due
from hypercare_domain.sla.escalation import escalation_milestones
from hypercare_domain.sla.milestone import Milestone, milestone_key
from hypercare_domain.sla.policy import SlaPolicy, Targets
from hypercare_domain.sla.timeline import SlaTimeline

LATE_AFTER = timedelta(seconds=2)
"""An event emitted more than this after its due instant is flagged ``late``."""


def plan(timeline: SlaTimeline, policy: SlaPolicy, now: datetime) -> list[Milestone]:
    """All milestones that should exist for the timeline's cycle as of ``now``, past and future, by due time.

    For each clock (response, resolution): ``at_risk`` (at ``at_risk_ratio`` of the target) and
    ``breached`` (at the target) while the clock runs. Once it stops (response: first acknowledge, or a
    resolve without one; resolution: resolve) milestones due at or after the stop are dropped, and a ``met``
    milestone at the stop instant is added when the stop came no later than the target. Escalation steps and
    re-notifications exist until the response clock stops. While an open-ended pause stops a clock, the
    milestones beyond it are not planned (the service plans again on resume). Facts dated after ``now`` are
    ignored.

    Raises:
        PolicyError: the timeline names an unknown escalation policy.
    """
    targets = policy.targets_for(timeline.severity, timeline.route)
    response_pauses = timeline.pauses_for(SlaTarget.RESPONSE, policy, now)
    response_stop = _known(timeline.response_stopped_at, now)
    milestones = [
        *_clock_milestones(
            timeline,
            policy,
            targets=targets,
            target=SlaTarget.RESPONSE,
            pauses=response_pauses,
            stop=response_stop,
        ),
        *_clock_milestones(
            timeline,
            policy,
            targets=targets,
            target=SlaTarget.RESOLUTION,
            pauses=timeline.pauses_for(SlaTarget.RESOLUTION, policy, now),
            stop=_known(timeline.resolved_at, now),
        ),
        *escalation_milestones(
            timeline,
            policy.escalation_for(timeline.escalation_policy),
            targets.calendar,
            response_pauses,
            response_stop,
        ),
    ]
    return sorted(milestones, key=lambda m: (m.due_at, m.key))


def to_event(
    milestone: Milestone, timeline: SlaTimeline, policy: SlaPolicy, emitted_at: datetime
) -> SlaEvent:
    """The event announcing ``milestone``; ``event_id`` is the milestone key, so a re-emission is a duplicate.

    ``business_elapsed_seconds`` is the business time from ``opened_at`` to ``due_at`` on the milestone's
    clock (escalations and re-notifications run on the response clock), pauses excluded.
    """
    targets = policy.targets_for(timeline.severity, timeline.route)
    clock = milestone.target or SlaTarget.RESPONSE
    pauses = timeline.pauses_for(clock, policy, milestone.due_at)
    elapsed = business_time_between(timeline.opened_at, milestone.due_at, targets.calendar, pauses)
    return SlaEvent(
        event_id=milestone.key,
        kind=milestone.kind,
        issue_id=timeline.issue_id,
        severity=timeline.severity,
        route=timeline.route,
        target=milestone.target,
        due_at=milestone.due_at,
        emitted_at=emitted_at,
        business_elapsed_seconds=elapsed.total_seconds(),
        target_seconds=targets.amount(milestone.target).total_seconds() if milestone.target else None,
        policy=milestone.policy,
        escalation_step=milestone.escalation_step,
        escalation_target=milestone.notify,
        late=emitted_at - milestone.due_at > LATE_AFTER,
    )


def _clock_milestones(
    timeline: SlaTimeline,
    policy: SlaPolicy,
    *,
    targets: Targets,
    target: SlaTarget,
    pauses: Sequence[Pause],
    stop: datetime | None,
) -> list[Milestone]:
    amount = targets.amount(target)
    label = f"{targets.label}/{target.value}@{targets.calendar.name}"
    due = find_due(timeline.opened_at, amount, targets.calendar, pauses)
    at_risk = find_due(timeline.opened_at, amount * policy.at_risk_ratio, targets.calendar, pauses)
    milestones: list[Milestone] = []
    for kind, instant in ((SlaEventKind.AT_RISK, at_risk), (SlaEventKind.BREACHED, due)):
        if instant is not None and (stop is None or instant < stop):
            milestones.append(_milestone(timeline, kind, target, instant, label))
    if stop is not None and (due is None or stop <= due):
        milestones.append(_milestone(timeline, SlaEventKind.MET, target, stop, label))
    return milestones


def _milestone(
    timeline: SlaTimeline, kind: SlaEventKind, target: SlaTarget, due_at: datetime, label: str
) -> Milestone:
    key = milestone_key(timeline.issue_id, timeline.cycle, target.value, kind.value)
    return Milestone(kind=kind, target=target, due_at=due_at, key=key, policy=label)


def _known(instant: datetime | None, now: datetime) -> datetime | None:
    return instant if instant is not None and instant <= now else None
