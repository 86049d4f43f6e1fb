"""The neutral message model every channel renders from, built from a triage decision, an SLA event or a
person's acknowledge or resolve.

:func:`render`, :func:`render_sla` and :func:`render_lifecycle` decide *what* a notification says (title,
why now, impact and its top reasons, reach, owner, SLA due times, sample reports, action links, urgency
and kind);
:mod:`hypercare_domain.notify.formats` and :mod:`hypercare_domain.notify.payloads` decide *how*
each channel shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from hypercare_contracts.common import ScoreItem, Severity
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import Decision, IssueStatus, ReportSummary, TriagedIssue

from hypercare_domain.notify.links import ActionLinks

TOP_REASONS = 3
MAX_SAMPLES = 3


class NotificationKind(StrEnum):
    """What the notification tells its receiver; PagerDuty's ``event_action`` mirrors it."""

    TRIGGER = "trigger"
    UPDATE = "update"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ESCALATION = "escalation"
    DIGEST = "digest"


class Urgency(StrEnum):
    """``page`` wakes someone up (critical and high); ``notify`` waits until someone looks."""

    PAGE = "page"
    NOTIFY = "notify"


@dataclass(frozen=True, slots=True)
class SlaSummary:
    """When the issue's SLA clocks fall due, where known."""

    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class ImpactSummary:
    """The impact score, its parts, and the score items that moved it most."""

    score: float
    reach: float
    financial: float
    reputational: float
    top_reasons: tuple[ScoreItem, ...]


@dataclass(frozen=True, slots=True)
class RouteSummary:
    """Who owns the issue; the team is unknown for an SLA event about an issue not at hand."""

    name: str
    team: str | None = None
    escalation_policy: str | None = None


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One issue in a digest."""

    issue_id: str
    title: str
    severity: Severity
    status: IssueStatus
    impact_score: float
    occurrences: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class RenderedNotification:
    """Everything a channel needs to show one notification; channel formats render from this alone.

    Attributes:
        kind: what the notification tells.
        urgency: page or notify.
        trigger_id: the triage decision or SLA event (or digest window) that caused it.
        issue_id: the issue, or ``None`` for a digest.
        title: the one-line subject, such as ``[CRITICAL] Checkout fails``.
        headline: why this notification is sent now (``New critical issue``, ``Response SLA breached``).
        severity: the issue's severity (the highest severity for a digest).
        occurred_at: when the decision or event happened.
    """

    kind: NotificationKind
    urgency: Urgency
    trigger_id: str
    issue_id: str | None
    title: str
    headline: str
    severity: Severity
    occurred_at: datetime
    route: RouteSummary
    previous_severity: Severity | None = None
    status: IssueStatus | None = None
    component: str | None = None
    environment: str | None = None
    impact: ImpactSummary | None = None
    occurrences: int | None = None
    distinct_reporters: int | None = None
    sla: SlaSummary | None = None
    samples: tuple[ReportSummary, ...] = ()
    acknowledge_url: str | None = None
    resolve_url: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    digest: tuple[DigestEntry, ...] = ()


def urgency_for(severity: Severity) -> Urgency:
    """Page for critical and high, notify otherwise."""
    return Urgency.PAGE if severity.rank >= Severity.HIGH.rank else Urgency.NOTIFY


def top_reasons(breakdown: list[ScoreItem], limit: int = TOP_REASONS) -> tuple[ScoreItem, ...]:
    """The score items that moved the score most (largest absolute contribution, ties in breakdown order)."""
    ranked = sorted(enumerate(breakdown), key=lambda pair: (-abs(pair[1].contribution), pair[0]))
    return tuple(item for _, item in ranked[:limit])


def format_time(moment: datetime) -> str:
    """A short, unambiguous UTC time for people: ``2025-03-14 09:30 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def make_title(kind: NotificationKind, severity: Severity, text: str) -> str:
    """The subject line: a bracketed label then the issue title."""
    if kind is NotificationKind.RESOLVE:
        label = "RESOLVED"
    elif kind is NotificationKind.ACKNOWLEDGE:
        label = "ACKNOWLEDGED"
    elif kind is NotificationKind.ESCALATION:
        label = f"ESCALATION · {severity.value.upper()}"
    else:
        label = severity.value.upper()
    return f"[{label}] {text}"


_DECISION_KIND = {
    Decision.CREATED: NotificationKind.TRIGGER,
    Decision.REOPENED: NotificationKind.TRIGGER,
    Decision.RELEASED: NotificationKind.TRIGGER,
    Decision.UPDATED: NotificationKind.UPDATE,
    Decision.RAISED: NotificationKind.UPDATE,
    Decision.SUPPRESSED: NotificationKind.UPDATE,
    Decision.RESOLVED: NotificationKind.RESOLVE,
}


def kind_for(decision: Decision) -> NotificationKind:
    """The notification kind a triage decision produces by default."""
    return _DECISION_KIND[decision]


def _headline(issue: TriagedIssue, kind: NotificationKind) -> str:
    severity = issue.severity.value
    if kind is NotificationKind.ACKNOWLEDGE:
        return "Acknowledged"
    if kind is NotificationKind.RESOLVE:
        return "Resolved"
    match issue.decision:
        case Decision.CREATED:
            return f"New {severity} issue"
        case Decision.REOPENED:
            return f"Reopened as {severity}"
        case Decision.RELEASED:
            return f"Suppression ended and the issue is still active ({severity})"
        case Decision.RAISED if issue.previous_severity is not None:
            return f"Severity raised from {issue.previous_severity.value} to {severity}"
        case Decision.RAISED:
            return f"Severity raised to {severity}"
        case Decision.SUPPRESSED:
            return f"Suppressed by {issue.suppressed_by or 'policy'}"
        case _:
            return f"Updated: {issue.occurrences} occurrences from {issue.distinct_reporters} reporters"


def _impact(issue: TriagedIssue) -> ImpactSummary:
    return ImpactSummary(
        score=issue.impact.score,
        reach=issue.impact.reach,
        financial=issue.impact.financial,
        reputational=issue.impact.reputational,
        top_reasons=top_reasons(issue.breakdown),
    )


def _check_links(links: ActionLinks | None, issue_id: str) -> None:
    if links is not None and links.issue_id != issue_id:
        raise ValueError(f"action links are for issue {links.issue_id}, not {issue_id}")


def render(
    issue: TriagedIssue,
    *,
    links: ActionLinks | None,
    sla: SlaSummary | None,
    kind: NotificationKind | None = None,
) -> RenderedNotification:
    """Build the notification of one triage decision.

    Args:
        issue: the decision.
        links: the issue's signed action links, or ``None`` when actions are not configured.
        sla: the issue's SLA due times, when known.
        kind: overrides the kind the decision implies (the service passes ``acknowledge`` when a
            lifecycle acknowledgement is announced).

    Returns:
        The notification; a resolved one carries no action links.

    Raises:
        ValueError: the links belong to another issue.
    """
    _check_links(links, issue.issue_id)
    chosen = kind or kind_for(issue.decision)
    actionable = chosen is not NotificationKind.RESOLVE
    return RenderedNotification(
        kind=chosen,
        urgency=urgency_for(issue.severity),
        trigger_id=issue.decision_id,
        issue_id=issue.issue_id,
        title=make_title(chosen, issue.severity, issue.title),
        headline=_headline(issue, chosen),
        severity=issue.severity,
        occurred_at=issue.decided_at,
        route=RouteSummary(
            name=issue.route.name, team=issue.route.team, escalation_policy=issue.route.escalation_policy
        ),
        previous_severity=issue.previous_severity,
        status=issue.status,
        component=issue.component,
        environment=issue.environment,
        impact=_impact(issue),
        occurrences=issue.occurrences,
        distinct_reporters=issue.distinct_reporters,
        sla=sla,
        samples=tuple(issue.samples[:MAX_SAMPLES]),
        acknowledge_url=links.acknowledge_url if actionable and links else None,
        resolve_url=links.resolve_url if actionable and links else None,
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
    )


_LIFECYCLE_KIND = {
    LifecycleAction.ACKNOWLEDGE: NotificationKind.ACKNOWLEDGE,
    LifecycleAction.RESOLVE: NotificationKind.RESOLVE,
}

_VIA_TEXT = {
    Via.API: "the API",
    Via.LINK: "a signed link",
    Via.KAFKA: "a lifecycle command",
    Via.SOURCE: "the source",
    Via.TRIAGE: "triage",
}


def render_lifecycle(
    event: LifecycleEvent, issue: TriagedIssue, links: ActionLinks | None
) -> RenderedNotification:
    """Build the notification announcing that a person acknowledged or resolved an issue.

    It reads like the acknowledge or resolve of a decision (the issue's title, impact and samples from
    the latest decision), but names who did it and how (``Acknowledged by alice via a signed link``),
    is dated when they did it and carries the lifecycle event as its trigger.

    Args:
        event: the lifecycle event (``acknowledge`` or ``resolve``).
        issue: the latest decision about the issue.
        links: the issue's signed action links, or ``None``.

    Returns:
        The notification; a resolve carries no action links.

    Raises:
        ValueError: the event is another action, or the issue or the links belong to another issue.
    """
    kind = _LIFECYCLE_KIND.get(event.action)
    if kind is None:
        raise ValueError(f"a {event.action.value} lifecycle event is not announced")
    if issue.issue_id != event.issue_id:
        raise ValueError(f"issue {issue.issue_id} does not match lifecycle event issue {event.issue_id}")
    base = render(issue, links=links, sla=None, kind=kind)
    done = "Acknowledged" if kind is NotificationKind.ACKNOWLEDGE else "Resolved"
    return replace(
        base,
        trigger_id=event.event_id,
        headline=f"{done} by {event.actor} via {_VIA_TEXT.get(event.via, event.via.value)}",
        occurred_at=event.at,
        status=event.to_status,
    )


_SLA_KIND = {
    SlaEventKind.AT_RISK: NotificationKind.ESCALATION,
    SlaEventKind.BREACHED: NotificationKind.ESCALATION,
    SlaEventKind.ESCALATION: NotificationKind.ESCALATION,
    SlaEventKind.RENOTIFY: NotificationKind.TRIGGER,
    SlaEventKind.MET: NotificationKind.UPDATE,
}


def _sla_headline(event: SlaEvent) -> str:
    target = (event.target or SlaTarget.RESPONSE).value.capitalize()
    due = format_time(event.due_at)
    match event.kind:
        case SlaEventKind.AT_RISK:
            return f"{target} SLA at risk: due {due}"
        case SlaEventKind.BREACHED:
            return f"{target} SLA breached: was due {due}"
        case SlaEventKind.MET:
            return f"{target} SLA met"
        case SlaEventKind.ESCALATION:
            step = "" if event.escalation_step is None else f" step {event.escalation_step}"
            whom = f" to {event.escalation_target}" if event.escalation_target else ""
            return f"Escalated{step}{whom}: still not acknowledged"
        case _:
            return f"Reminder: still not acknowledged (due {due})"


def sla_summary_of(event: SlaEvent) -> SlaSummary:
    """The due time an SLA event states, on the clock it names."""
    if event.target is SlaTarget.RESOLUTION:
        return SlaSummary(resolution_due_at=event.due_at, policy=event.policy)
    return SlaSummary(response_due_at=event.due_at, policy=event.policy)


def render_sla(
    event: SlaEvent, issue: TriagedIssue | None, links: ActionLinks | None
) -> RenderedNotification:
    """Build the notification of one SLA milestone or escalation step.

    Args:
        event: the SLA event.
        issue: the latest decision about the issue, when the caller has it (adds impact, reach, samples).
        links: the issue's signed action links, or ``None``.

    Returns:
        The notification; ``met`` milestones never page.

    Raises:
        ValueError: the issue or the links belong to another issue than the event.
    """
    if issue is not None and issue.issue_id != event.issue_id:
        raise ValueError(f"issue {issue.issue_id} does not match SLA event issue {event.issue_id}")
    _check_links(links, event.issue_id)
    kind = _SLA_KIND[event.kind]
    urgency = Urgency.NOTIFY if event.kind is SlaEventKind.MET else urgency_for(event.severity)
    issue_title = issue.title if issue is not None else f"Issue {event.issue_id}"
    actionable = event.kind is not SlaEventKind.MET
    base = RenderedNotification(
        kind=kind,
        urgency=urgency,
        trigger_id=event.event_id,
        issue_id=event.issue_id,
        title=make_title(kind, event.severity, issue_title),
        headline=_sla_headline(event),
        severity=event.severity,
        occurred_at=event.emitted_at,
        route=RouteSummary(name=event.route, escalation_policy=event.policy),
        sla=sla_summary_of(event),
        acknowledge_url=links.acknowledge_url if actionable and links else None,
        resolve_url=links.resolve_url if actionable and links else None,
    )
    if issue is None:
        return base
    return replace(
        base,
        route=RouteSummary(
            name=issue.route.name, team=issue.route.team, escalation_policy=issue.route.escalation_policy
        ),
        previous_severity=issue.previous_severity,
        status=issue.status,
        component=issue.component,
        environment=issue.environment,
        impact=_impact(issue),
        occurrences=issue.occurrences,
        distinct_reporters=issue.distinct_reporters,
        samples=tuple(issue.samples[:MAX_SAMPLES]),
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
    )
