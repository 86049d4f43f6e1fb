"""Grouping: which known issue, if any, a report belongs to, and by which rule."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypercare_contracts import MergeRule, NormalizedReport, ReportAction
from rapidfuzz import fuzz

from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.state import IssueState, report_keys
from hypercare_domain.triage.text import signature

_TOKEN_MATCH = 80.0
"""Two words count as the same word from this similarity up (catches typos such as chekout)."""


@dataclass(frozen=True)
class Match:
    """The issue a report joins (None: a new issue), the rule that decided, and its similarity score."""

    issue_id: str | None
    rule: MergeRule
    score: float | None = None


def absorb_cap(issue: IssueState, policies: TriagePolicies) -> timedelta:
    """How old (since first seen) an issue may be and still absorb reports; per-route override first."""
    hours = policies.routes.target(issue.route.name).absorb_max_age_hours
    return timedelta(hours=hours or policies.triage.grouping.absorb_max_age_hours)


def reopen_window(policies: TriagePolicies) -> timedelta:
    """How long after resolution a matching report reopens the issue instead of opening a new one."""
    return timedelta(minutes=policies.triage.grouping.reopen_window_minutes)


def within_reopen_window(issue: IssueState, at: datetime, policies: TriagePolicies) -> bool:
    """Whether a report at ``at`` would reopen the (resolved) ``issue``."""
    return issue.resolved_at is not None and at - issue.resolved_at <= reopen_window(policies)


def is_candidate(report: NormalizedReport, issue: IssueState) -> bool:
    """Whether ``issue`` is worth matching ``report`` against (what a store should load).

    True when the issue shares a source item key or the fingerprint, or is an unresolved issue on the
    same component and environment.
    """
    if set(report_keys(report)) & set(issue.source_refs) or issue.fingerprint == report.fingerprint:
        return True
    return (
        not issue.is_resolved
        and issue.component == report.component
        and issue.environment == report.environment
    )


def _newest(issues: list[IssueState]) -> IssueState:
    # Deterministic tie-break: unresolved first, then most recently seen, then id.
    return max(issues, key=lambda issue: (not issue.is_resolved, issue.last_seen, issue.issue_id))


def _common_tokens(left: list[str], right: list[str]) -> int:
    return sum(1 for word in left if any(fuzz.ratio(word, other) >= _TOKEN_MATCH for other in right))


def similarity(report_signature: str, issue: IssueState, min_common: int) -> float:
    """Best token-set similarity (0-100) of a report signature to the issue's sample signatures.

    A pair with fewer than ``min_common`` words in common (allowing typos) scores 0, so a single shared
    word such as "checkout" never merges two different problems.
    """
    words = report_signature.split()
    best = 0.0
    for issue_signature in issue.signatures:
        other = issue_signature.split()
        if _common_tokens(words, other) < min(min_common, len(words), len(other)) or not words or not other:
            continue
        best = max(best, fuzz.token_set_ratio(report_signature, issue_signature))
    return round(best, 1)


def match(
    report: NormalizedReport, candidates: list[IssueState], policies: TriagePolicies, now: datetime
) -> Match:
    """Find the issue ``report`` belongs to.

    Rules, in order: the same source item (``source_ref`` or a reference such as a dedup key), even on a
    resolved issue (the engine then applies the reopen rules); the same fingerprint on an issue that is
    unresolved or resolved within the reopen window, and younger than the absorb cap; a similar text on
    an unresolved issue of the same component and environment, seen within the similarity window.
    Source actions (acknowledge, resolve, pending, resumed) only match by source item or fingerprint.

    Args:
        report: the normalized report.
        candidates: the issues the store loaded for it (see :func:`is_candidate`).
        policies: the loaded triage policies.
        now: the instant of matching; the engine passes the report's ``received_at`` so a replay
            matches exactly as the live run did.
    """
    keys = set(report_keys(report))
    by_item = [issue for issue in candidates if keys & set(issue.source_refs)]
    if by_item:
        return Match(_newest(by_item).issue_id, MergeRule.SOURCE_ITEM)

    by_fingerprint = [
        issue
        for issue in candidates
        if issue.fingerprint == report.fingerprint
        and (not issue.is_resolved or within_reopen_window(issue, now, policies))
        and now - issue.first_seen <= absorb_cap(issue, policies)
    ]
    if by_fingerprint:
        return Match(_newest(by_fingerprint).issue_id, MergeRule.FINGERPRINT)

    if report.action not in (ReportAction.REPORT, ReportAction.UPDATE):
        return Match(None, MergeRule.NEW)
    grouping = policies.triage.grouping
    report_signature = signature(f"{report.title}\n{report.text}")
    window = timedelta(hours=grouping.similarity_window_hours)
    scored = [
        (similarity(report_signature, issue, grouping.min_common_tokens), issue)
        for issue in candidates
        if not issue.is_resolved
        and issue.component == report.component
        and issue.environment == report.environment
        and now - issue.last_seen <= window
        and now - issue.first_seen <= absorb_cap(issue, policies)
    ]
    eligible = [(score, issue) for score, issue in scored if score >= grouping.similarity_threshold]
    if eligible:
        score, issue = max(eligible, key=lambda pair: (pair[0], pair[1].last_seen, pair[1].issue_id))
        return Match(issue.issue_id, MergeRule.SIMILARITY, score)
    return Match(None, MergeRule.NEW)
