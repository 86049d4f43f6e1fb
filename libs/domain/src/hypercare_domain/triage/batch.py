"""Triage of a batch of reports against a store of issues, in order."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from hypercare_contracts import MergeRule, NormalizedReport, TriagedIssue

from hypercare_domain.triage.decisions import AuditEntry
from hypercare_domain.triage.engine import decide
from hypercare_domain.triage.grouping import is_candidate, match
from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.state import IssueState


class IssueLookup(Protocol):
    """Where the engine finds the issues a report may belong to (PostgreSQL, or memory for replay)."""

    def find_candidates(self, report: NormalizedReport) -> list[IssueState]:
        """Issues sharing a source item key or the fingerprint, and unresolved issues on the same
        component and environment (see :func:`~hypercare_domain.triage.grouping.is_candidate`)."""
        ...


class ReportLink(NamedTuple):
    """Which issue a report was attached to, and by which rule."""

    event_id: str
    issue_id: str
    rule: MergeRule


@dataclass(frozen=True)
class BatchResult:
    """Everything a batch changed: states to save, decisions to publish, links and audit to record."""

    states_changed: dict[str, IssueState] = field(default_factory=dict)
    decisions: list[TriagedIssue] = field(default_factory=list)
    report_links: list[ReportLink] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


def triage_batch(
    reports: Iterable[NormalizedReport], lookup: IssueLookup, policies: TriagePolicies, now: datetime
) -> BatchResult:
    """Triage ``reports`` in order; later reports see the effects of earlier ones in the same batch.

    Every report is processed, duplicates included: skipping reports already applied (replay
    idempotence) is the caller's job, by event id.

    Args:
        reports: normalized reports, in topic order.
        lookup: loads candidate issues; states changed earlier in the batch take precedence.
        policies: the loaded triage policies.
        now: the decision time stamped on every decision.
    """
    result = BatchResult()
    changed = result.states_changed
    for report in reports:
        candidates = {issue.issue_id: issue for issue in lookup.find_candidates(report)}
        candidates.update(
            {
                issue_id: issue
                for issue_id, issue in changed.items()
                if issue_id in candidates or is_candidate(report, issue)
            }
        )
        ordered = sorted(candidates.values(), key=lambda issue: issue.issue_id)
        found = match(report, ordered, policies, report.received_at)
        state = candidates[found.issue_id] if found.issue_id is not None else None
        step = decide(report, state, policies, now, merged_by=found.rule)
        result.audit.extend(step.audit)
        if step.state is None:
            continue
        changed[step.state.issue_id] = step.state
        result.report_links.append(ReportLink(report.event_id, step.state.issue_id, step.rule))
        if step.decision is not None:
            result.decisions.append(step.decision)
    return result
