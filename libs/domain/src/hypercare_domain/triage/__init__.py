"""Triage: merge reports into issues, score severity and impact, route, suppress, decide.

Pure functions over typed values; the triage service persists :class:`IssueState` and calls
:func:`triage_batch` per batch of reports, the offline replay does the same with :class:`InMemoryIssues`.
"""

from hypercare_domain.sentiment import sentiment
from hypercare_domain.triage.batch import BatchResult, FailedReport, IssueLookup, ReportLink, triage_batch
from hypercare_domain.triage.decisions import AuditEntry, Step
from hypercare_domain.triage.engine import decide, release_expired, written_breakdown
from hypercare_domain.triage.grouping import Match, is_candidate, match
from hypercare_domain.triage.memory import InMemoryIssues
from hypercare_domain.triage.policy import TriagePolicies, TriagePolicy, load_triage_policies
from hypercare_domain.triage.routing import RoutesPolicy, route_for
from hypercare_domain.triage.scoring import Assessment, assess
from hypercare_domain.triage.state import IssueState
from hypercare_domain.triage.suppression import SuppressionPolicy, active_suppression

__all__ = [
    "Assessment",
    "AuditEntry",
    "BatchResult",
    "FailedReport",
    "InMemoryIssues",
    "IssueLookup",
    "IssueState",
    "Match",
    "ReportLink",
    "RoutesPolicy",
    "Step",
    "SuppressionPolicy",
    "TriagePolicies",
    "TriagePolicy",
    "active_suppression",
    "assess",
    "decide",
    "is_candidate",
    "load_triage_policies",
    "match",
    "release_expired",
    "route_for",
    "sentiment",
    "triage_batch",
    "written_breakdown",
]
