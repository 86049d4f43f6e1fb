"""Grouping: which known issue, if any, a report belongs to, and by which rule."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from hypercare_contracts import MergeRule, NormalizedReport, ReportAction
from rapidfuzz import fuzz, process

from hypercare_domain.triage.memo import PolicyMemo
from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.state import IssueState, ReportFacts, report_keys
from hypercare_domain.triage.text import signature
from hypercare_domain.triage.views import as_set

_TOKEN_MATCH = 80.0
"""Two words count as the same word from this similarity up (catches typos such as chekout)."""
_SCORE_MARGIN = 0.1
"""Scores this far below the threshold cannot round (to 0.1) up to it: cheaper cut-off for rapidfuzz."""


@dataclass(frozen=True)
class Match:
    """The issue a report joins (None: a new issue), the rule that decided, and its similarity score."""

    issue_id: str | None
    rule: MergeRule
    score: float | None = None


_caps: PolicyMemo[str, timedelta] = PolicyMemo()
"""Absorb caps by route name."""


def absorb_cap(issue: IssueState, policies: TriagePolicies) -> timedelta:
    """How old (since first seen) an issue may be and still absorb reports; per-route override first."""
    # Asked for every candidate of every report: remembered per route instead of scanning the routes
    # and building the timedelta each time.
    name = issue.route.name
    return _caps.get(policies, name, lambda: _cap(name, policies))


def _cap(route: str, policies: TriagePolicies) -> timedelta:
    hours = policies.routes.target(route).absorb_max_age_hours
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
    if issue.fingerprint == report.fingerprint or not as_set(issue.source_refs).isdisjoint(
        report_keys(report)
    ):
        return True
    return (
        not issue.is_resolved
        and issue.component == report.component
        and issue.environment == report.environment
    )


def _newest(issues: list[IssueState]) -> IssueState:
    # Deterministic tie-break: unresolved first, then most recently seen, then id.
    return max(issues, key=lambda issue: (not issue.is_resolved, issue.last_seen, issue.issue_id))


@lru_cache(maxsize=1024)
def _words(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    # Issue signatures recur for every report compared with the issue; a report's own, for each
    # candidate it is compared with.
    words = tuple(text.split())
    return words, frozenset(words)


def _has_common_tokens(
    left: tuple[str, ...], right: tuple[str, ...], right_set: frozenset[str], needed: int
) -> bool:
    """Whether at least ``needed`` words of ``left`` have a word of ``right`` within ``_TOKEN_MATCH``.

    An exact match is a ratio of 100; only the other words are compared fuzzily, each in one call
    over all of ``right`` (its cut-off is set lower and the best score checked, so a score of exactly
    ``_TOKEN_MATCH`` counts as it always did).
    """
    count = 0
    for word in left:
        if count >= needed:
            return True
        if word in right_set:
            count += 1
            continue
        best = process.extractOne(word, right, scorer=fuzz.ratio, score_cutoff=_TOKEN_MATCH - 1)
        if best is not None and best[1] >= _TOKEN_MATCH:
            count += 1
    return count >= needed


def similarity(report_signature: str, issue: IssueState, min_common: int) -> float:
    """Best token-set similarity (0-100) of a report signature to the issue's sample signatures.

    A pair with fewer than ``min_common`` words in common (allowing typos) scores 0, so a single shared
    word such as "checkout" never merges two different problems.
    """
    return _similarity(report_signature, issue.signatures, min_common, 0.0)


def _similarity(report_signature: str, signatures: Sequence[str], min_common: int, cutoff: float) -> float:
    """:func:`similarity`, where scores below ``cutoff`` may count as 0 (rapidfuzz then stops early)."""
    words, _ = _words(report_signature)
    best = 0.0
    for issue_signature in signatures:
        other, other_set = _words(issue_signature)
        if not words or not other:
            continue
        score = fuzz.token_set_ratio(report_signature, issue_signature, score_cutoff=cutoff)
        if score <= best or (cutoff and score < cutoff):
            continue
        if _has_common_tokens(words, other, other_set, min(min_common, len(words), len(other))):
            best = score
    return round(best, 1)


def match(
    report: NormalizedReport,
    candidates: list[IssueState],
    policies: TriagePolicies,
    now: datetime,
    *,
    facts: ReportFacts | None = None,
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
        facts: the report's facts when already computed (keys and signature are taken from them).
    """
    keys = facts.key_set if facts is not None and facts.key_set else frozenset(report_keys(report))
    by_item = [issue for issue in candidates if not keys.isdisjoint(as_set(issue.source_refs))]
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
    report_signature = facts.signature if facts is not None else signature(f"{report.title}\n{report.text}")
    window = timedelta(hours=grouping.similarity_window_hours)
    threshold = grouping.similarity_threshold
    # Only scores reaching the threshold matter here, so rapidfuzz may give up below it.
    cutoff = max(0.0, threshold - _SCORE_MARGIN)
    scored = [
        (_similarity(report_signature, issue.signatures, grouping.min_common_tokens, cutoff), issue)
        for issue in candidates
        if not issue.is_resolved
        and issue.component == report.component
        and issue.environment == report.environment
        and now - issue.last_seen <= window
        and now - issue.first_seen <= absorb_cap(issue, policies)
    ]
    eligible = [(score, issue) for score, issue in scored if score >= threshold]
    if eligible:
        score, issue = max(eligible, key=lambda pair: (pair[0], pair[1].last_seen, pair[1].issue_id))
        return Match(issue.issue_id, MergeRule.SIMILARITY, score)
    return Match(None, MergeRule.NEW)
