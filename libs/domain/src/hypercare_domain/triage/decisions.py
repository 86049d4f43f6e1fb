"""What the engine hands back: steps, audit entries, and the published decision."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hypercare_contracts import Decision, MergeRule, NormalizedReport, ScoreItem, Severity, TriagedIssue

from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.state import IssueState

JsonScalar = str | int | float | bool | None
Explain = Callable[[], tuple[ScoreItem, ...]]
"""Writes out the breakdown of an issue state that was scored but not yet explained."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of an issue's audit trail.

    ``actor`` is ``triage`` for the engine's own rules, or the name of the maintenance window or silence
    that held a decision back.
    """

    issue_id: str | None
    at: datetime
    action: str
    detail: dict[str, JsonScalar]
    actor: str = "triage"
    event_id: str | None = None


@dataclass(frozen=True)
class Step:
    """The outcome of one report (or one release): the new state, a decision if any, and the audit.

    ``state`` is None when the report was ignored (a resolve for an unknown source item); ``rule`` is the
    grouping rule finally applied (NEW when a resolved issue was too old to reopen). A state scored
    without writing out its breakdown (``decide(..., explain=False)``) carries none:
    :func:`~hypercare_domain.triage.engine.written_breakdown` writes it out.
    """

    state: IssueState | None
    decision: TriagedIssue | None
    rule: MergeRule = MergeRule.NEW
    audit: tuple[AuditEntry, ...] = field(default=())


def is_milestone(count: int) -> bool:
    """Whether ``count`` is on the 1, 2, 5, 10, 25, 50, 100, 250, 500, ... series."""
    if count < 10:
        return count in (1, 2, 5)
    magnitude = 10 ** (len(str(count)) - 1)
    return count in (magnitude, magnitude * 5 // 2, magnitude * 5)


def is_flapping(issue: IssueState, policies: TriagePolicies) -> bool:
    """Whether the issue reopened often enough that its reopens and resolves no longer notify."""
    flap = policies.triage.grouping.flap
    return issue.source in flap.sources and issue.flap_count > flap.notify_reopens


def should_notify(
    kind: Decision, issue: IssueState, previous: Severity | None, policies: TriagePolicies
) -> bool:
    """Whether a (not suppressed) decision should reach people.

    Created, raised and released issues notify; plain updates do not (the severity did not change);
    reopens and resolves of a flapping issue do not, unless the severity went up.
    """
    raised = previous is not None and issue.severity.rank > previous.rank
    if kind in (Decision.CREATED, Decision.RAISED, Decision.RELEASED):
        return True
    if kind is Decision.REOPENED:
        return raised or not is_flapping(issue, policies)
    if kind is Decision.RESOLVED:
        return issue.notified and not is_flapping(issue, policies)
    return False


def build_decision(
    issue: IssueState,
    kind: Decision,
    *,
    now: datetime,
    notify: bool,
    previous_severity: Severity | None = None,
    report: NormalizedReport | None = None,
) -> TriagedIssue:
    """The ``hypercare.issues.triaged`` message for ``issue`` at its current version."""
    return TriagedIssue(
        decision_id=f"{issue.issue_id}:{issue.version}",
        decision=kind,
        issue_id=issue.issue_id,
        version=issue.version,
        title=issue.title,
        component=issue.component,
        environment=issue.environment,
        status=issue.status,
        severity=issue.severity,
        previous_severity=previous_severity,
        impact=issue.impact,
        breakdown=list(issue.breakdown),
        route=issue.route,
        occurrences=max(1, issue.occurrences),
        distinct_reporters=issue.distinct_reporters,
        flap_count=issue.flap_count,
        merged_by=issue.last_merged_by,
        sources=list(issue.sources),
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
        decided_at=now,
        notify=notify,
        suppressed_by=issue.suppressed_by,
        samples=list(issue.samples),
        event_id=report.event_id if report else None,
        trace_id=report.trace_id if report else None,
    )


def audit_for(
    issue: IssueState | None,
    action: str,
    *,
    now: datetime,
    report: NormalizedReport | None,
    actor: str = "triage",
    **detail: JsonScalar,
) -> AuditEntry:
    """An audit entry about ``issue`` (None for an ignored report)."""
    return AuditEntry(
        issue_id=issue.issue_id if issue else None,
        at=now,
        action=action,
        detail=dict(sorted(detail.items())),
        actor=actor,
        event_id=report.event_id if report else None,
    )
