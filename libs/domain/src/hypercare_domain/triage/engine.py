"""The triage engine: one report and the issue it matched in, the new issue state and a decision out.

Time: everything about a report (windows, last seen, suppression) is judged at the report's
``received_at``, so a replay of the same reports gives the same issues as the live run; ``now`` is
only the ``decided_at`` of the decisions.
"""

from dataclasses import dataclass
from datetime import datetime

from hypercare_contracts import (
    Decision,
    IssueStatus,
    MergeRule,
    NormalizedReport,
    ReportAction,
    ScoreItem,
    Severity,
    Source,
)

from hypercare_domain.triage.decisions import (
    Explain,
    Step,
    audit_for,
    build_decision,
    is_flapping,
    is_milestone,
    should_notify,
)
from hypercare_domain.triage.grouping import within_reopen_window
from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.routing import match_route
from hypercare_domain.triage.scoring import Measurement, measure
from hypercare_domain.triage.state import (
    IssueState,
    ReportFacts,
    absorb,
    facts_of,
    holds_open,
    new_state,
    report_keys,
)
from hypercare_domain.triage.suppression import active_suppression
from hypercare_domain.triage.views import as_set

_SOURCE_ACTIONS = (ReportAction.ACKNOWLEDGE, ReportAction.RESOLVE, ReportAction.PENDING, ReportAction.RESUMED)


def _infer_rule(report: NormalizedReport, state: IssueState | None) -> MergeRule:
    if state is None:
        return MergeRule.NEW
    if not as_set(state.source_refs).isdisjoint(report_keys(report)):
        return MergeRule.SOURCE_ITEM
    if state.fingerprint == report.fingerprint:
        return MergeRule.FINGERPRINT
    return MergeRule.SIMILARITY


def _suppression(issue: IssueState, at: datetime, policies: TriagePolicies) -> str | None:
    return active_suppression(
        issue.component, issue.source, issue.labels, issue.environment, at, policies.suppression
    )


@dataclass(frozen=True)
class _Explanation:
    """The breakdown of a reassessed issue, written out on demand: the rules' lines, then a line saying
    why the severity was held if it was."""

    measured: Measurement
    held: Severity | None
    """The severity the issue kept, when the rules alone now give a lower one."""

    def breakdown(self) -> tuple[ScoreItem, ...]:
        """The breakdown the reassessed state carries."""
        items = self.measured.breakdown()
        if self.held is not None:
            items.append(
                ScoreItem(
                    rule="severity.held",
                    contribution=0,
                    reason=f"kept at {self.held}: severity does not drop while reports keep coming"
                    f" (the rules alone now give {self.measured.severity})",
                )
            )
        return tuple(items)


def _reassess(
    issue: IssueState, prior: IssueState | None, policies: TriagePolicies, at: datetime
) -> tuple[dict[str, object], _Explanation]:
    """Score and route the issue; severity never drops below what it already was.

    Returns the fields to update on ``issue`` (the caller adds its own to the same copy) and the
    explanation that writes out the breakdown, left empty in the update.
    """
    measured = measure(issue, policies.triage, at)
    severity, held = measured.severity, None
    if prior is not None and prior.severity.rank > severity.rank:
        severity = held = prior.severity
    target = match_route(issue.component, issue.source, issue.labels, severity, policies.routes)
    update: dict[str, object] = {
        "severity": severity,
        "impact": measured.impact,
        "breakdown": (),
        "assessed_at": at,
        "route": target.to_route(),
    }
    return update, _Explanation(measured, held)


def written_breakdown(issue: IssueState, policies: TriagePolicies) -> tuple[ScoreItem, ...]:
    """The breakdown of ``issue``'s last assessment: the one it carries, else written out from the state.

    Scoring reads only what the assessment left unchanged since (component, counts, recent reports,
    signals, sources), so measuring again as of ``assessed_at`` gives the same lines; the severity is
    held when the rules alone give less than it. With the policies changed since, the lines are those
    of the policies in force.
    """
    if issue.breakdown or issue.assessed_at is None:
        return issue.breakdown
    measured = measure(issue, policies.triage, issue.assessed_at)
    held = issue.severity if issue.severity.rank > measured.severity.rank else None
    return _Explanation(measured, held).breakdown()


def _open_after(issue: IssueState, policies: TriagePolicies) -> int:
    grouping = policies.triage.grouping
    override = policies.routes.target(issue.route.name).open_after_reports
    return override or grouping.open_after_reports


def _kind(
    issue: IssueState, prior: IssueState | None, reopening: bool, policies: TriagePolicies
) -> Decision | None:
    """The decision a report's effect deserves, before suppression is considered."""
    if not issue.opened:
        bypass = policies.triage.grouping.open_immediately_at
        if issue.occurrences >= _open_after(issue, policies) or (
            bypass is not None and issue.severity.rank >= bypass.rank
        ):
            return Decision.CREATED
        return None
    if reopening:
        return Decision.REOPENED
    if prior is None:
        return None
    if issue.severity.rank > prior.severity.rank:
        return Decision.RAISED
    updates = policies.triage.updates
    new_reporter = issue.distinct_reporters > prior.distinct_reporters
    if (
        (issue.occurrences > prior.occurrences and is_milestone(issue.occurrences))
        or (new_reporter and (updates.every_new_reporter or is_milestone(issue.distinct_reporters)))
        or abs(issue.impact.score - prior.decided_impact) >= updates.impact_delta
    ):
        return Decision.UPDATED
    return None


def _finish(
    issue: IssueState,
    kind: Decision | None,
    *,
    previous: Severity | None,
    report: NormalizedReport | None,
    policies: TriagePolicies,
    at: datetime,
    now: datetime,
    rule: MergeRule,
    unexplained: Explain | None = None,
) -> Step:
    """Apply suppression, build the decision and the audit entry, and stamp the state.

    ``unexplained`` writes out the breakdown ``issue`` lacks if a decision is built (it carries the
    breakdown); without it, the decision carries the breakdown :func:`written_breakdown` gives.
    """
    window = _suppression(issue, at, policies) if not issue.is_resolved else None
    was_suppressed = issue.suppressed_by is not None and issue.opened
    if was_suppressed and window is None and kind in (None, Decision.UPDATED, Decision.CREATED):
        kind = Decision.RELEASED
    actor = "triage"
    if kind is None:
        suppressed_by = window if was_suppressed else None
        if issue.suppressed_by != suppressed_by:  # states are immutable: an unchanged one is kept as is
            issue = issue.model_copy(update={"suppressed_by": suppressed_by})
        action = "report.linked" if issue.opened else "report.pending"
        audit = audit_for(
            issue, action, now=now, report=report, rule=str(rule), occurrences=issue.occurrences
        )
        return Step(state=issue, decision=None, rule=rule, audit=(audit,))
    notify = should_notify(kind, issue, previous, policies)
    if window is not None and kind is not Decision.RESOLVED:
        kind, notify, actor = Decision.SUPPRESSED, False, window
    elif window is not None:
        notify = False
    stamped: dict[str, object] = {
        "suppressed_by": window,
        "opened": True,
        "pending": (),
        "last_decision": kind,
        "decided_impact": issue.impact.score,
        "notified": issue.notified or notify,
    }
    stamped["breakdown"] = unexplained() if unexplained is not None else written_breakdown(issue, policies)
    issue = issue.model_copy(update=stamped)
    decision = build_decision(issue, kind, now=now, notify=notify, previous_severity=previous, report=report)
    audit = audit_for(
        issue,
        f"issue.{kind}",
        now=now,
        report=report,
        actor=actor,
        rule=str(rule),
        severity=str(issue.severity),
        previous_severity=str(previous) if previous else None,
        notify=notify,
        version=issue.version,
    )
    return Step(state=issue, decision=decision, rule=rule, audit=(audit,))


def _ignored(
    report: NormalizedReport, state: IssueState | None, why: str, now: datetime, rule: MergeRule
) -> Step:
    audit = audit_for(
        state, "report.ignored", now=now, report=report, reason=why, report_action=str(report.action)
    )
    return Step(state=None, decision=None, rule=rule, audit=(audit,))


def _source_action(
    report: NormalizedReport,
    state: IssueState | None,
    policies: TriagePolicies,
    now: datetime,
    rule: MergeRule,
) -> Step:
    at = report.received_at
    if state is None:
        return _ignored(report, state, "no issue for this source item", now, rule)
    if state.is_resolved:
        return _ignored(report, state, "issue already resolved", now, rule)
    bumped = {"version": state.version + 1, "last_merged_by": rule}
    if report.action is ReportAction.RESOLVE:
        keys = set(report_keys(report))
        if keys.isdisjoint(as_set(state.open_refs)):
            return _ignored(report, state, "source item not active on the issue", now, rule)
        remaining = tuple(ref for ref in state.open_refs if ref not in keys)
        if holds_open(remaining, resolved_by_alert=report.source is Source.ALERTS):
            issue = state.model_copy(update={**bumped, "open_refs": remaining})
            return Step(
                issue,
                None,
                rule,
                (
                    audit_for(
                        issue, "source_item.resolved", now=now, report=report, still_active=len(remaining)
                    ),
                ),
            )
        issue = state.model_copy(
            update={
                **bumped,
                "open_refs": (),
                "status": IssueStatus.RESOLVED,
                "resolved_at": at,
                "paused": False,
            }
        )
        if not issue.opened:
            return Step(issue, None, rule, (audit_for(issue, "pending.resolved", now=now, report=report),))
        notify = should_notify(Decision.RESOLVED, issue, None, policies) and issue.suppressed_by is None
        issue = issue.model_copy(
            update={
                "suppressed_by": None,
                "last_decision": Decision.RESOLVED,
                "breakdown": written_breakdown(issue, policies),
            }
        )
        decision = build_decision(issue, Decision.RESOLVED, now=now, notify=notify, report=report)
        audit = audit_for(
            issue,
            "issue.resolved",
            now=now,
            report=report,
            notify=notify,
            flapping=is_flapping(issue, policies),
            version=issue.version,
        )
        return Step(issue, decision, rule, (audit,))
    if report.action is ReportAction.ACKNOWLEDGE:
        status = IssueStatus.ACKNOWLEDGED if state.status is IssueStatus.OPEN else state.status
        issue = state.model_copy(update={**bumped, "status": status})
    else:
        issue = state.model_copy(update={**bumped, "paused": report.action is ReportAction.PENDING})
    action = f"source.{report.action}"
    if not issue.opened:
        return Step(issue, None, rule, (audit_for(issue, action, now=now, report=report),))
    issue = issue.model_copy(
        update={"last_decision": Decision.UPDATED, "breakdown": written_breakdown(issue, policies)}
    )
    decision = build_decision(issue, Decision.UPDATED, now=now, notify=False, report=report)
    return Step(issue, decision, rule, (audit_for(issue, action, now=now, report=report, notify=False),))


def decide(
    report: NormalizedReport,
    state: IssueState | None,
    policies: TriagePolicies,
    now: datetime,
    *,
    merged_by: MergeRule | None = None,
    facts: ReportFacts | None = None,
    explain: bool = True,
) -> Step:
    """Apply one report to the issue it matched (or to a new issue) and decide what to publish.

    Args:
        report: the normalized report.
        state: the issue :func:`~hypercare_domain.triage.grouping.match` chose, or None for a new one.
        policies: the loaded triage policies.
        now: the decision time (``decided_at``); windows use the report's ``received_at``.
        merged_by: the grouping rule that chose ``state``; inferred from the report when omitted.
        facts: the report's :func:`~hypercare_domain.triage.state.facts_of` when already computed.
        explain: False to write out the new state's breakdown only when a decision is built; otherwise
            the state is returned without it (:func:`written_breakdown` writes it out from the state).

    Returns:
        The new state (None when the report was ignored), the decision to publish if any, the
        grouping rule finally applied, and the audit entries. A report matching a resolved issue
        outside the reopen window starts a new issue (rule NEW).
    """
    rule = merged_by or _infer_rule(report, state)
    if report.action in _SOURCE_ACTIONS:
        return _source_action(report, state, policies, now, rule)
    at = report.received_at
    reopening = False
    if state is not None and state.is_resolved:
        if within_reopen_window(state, at, policies):
            reopening = True
            state = state.model_copy(
                update={
                    "status": IssueStatus.OPEN,
                    "resolved_at": None,
                    "paused": False,
                    "flap_count": state.flap_count + 1,
                    "reopen_count": state.reopen_count + 1,
                }
            )
        else:
            state, rule = None, MergeRule.NEW
    prior = state
    issue = state if state is not None else new_state(report, policies.routes.default.to_route(), at)
    if facts is None:
        facts = facts_of(report, policies.triage)
    issue = absorb(issue, report, facts, policies.triage, at)
    # One copy for the reassessment and the stamp (pydantic copies cost microseconds each).
    stamped, explanation = _reassess(issue, prior, policies, at)
    stamped["version"], stamped["last_merged_by"] = issue.version + 1, rule
    unexplained: Explain | None = explanation.breakdown
    if explain:
        stamped["breakdown"], unexplained = explanation.breakdown(), None
    issue = issue.model_copy(update=stamped)
    kind = _kind(issue, prior, reopening, policies)
    if kind is None and not issue.opened:
        issue = issue.model_copy(update={"pending": (*issue.pending, report.event_id)})
    previous = prior.severity if prior is not None and prior.opened else None
    return _finish(
        issue,
        kind,
        previous=previous,
        report=report,
        policies=policies,
        at=at,
        now=now,
        rule=rule,
        unexplained=unexplained,
    )


def release_expired(states: list[IssueState], policies: TriagePolicies, now: datetime) -> list[Step]:
    """RELEASED decisions for open issues whose maintenance window or silence has ended.

    The triage service calls this on a timer with its suppressed issues; an issue now covered by a
    different window or silence is restamped silently.
    """
    steps = []
    for stored in sorted(states, key=lambda s: s.issue_id):
        if stored.suppressed_by is None or stored.is_resolved or not stored.opened:
            continue
        window = _suppression(stored, now, policies)
        if window == stored.suppressed_by:
            continue
        issue = stored.model_copy(update={"version": stored.version + 1})
        if window is not None:
            issue = issue.model_copy(update={"suppressed_by": window})
            audit = audit_for(issue, "suppression.changed", now=now, report=None, actor=window)
            steps.append(Step(issue, None, issue.last_merged_by, (audit,)))
            continue
        steps.append(
            _finish(
                issue,
                None,
                previous=None,
                report=None,
                policies=policies,
                at=now,
                now=now,
                rule=issue.last_merged_by,
            )
        )
    return steps
