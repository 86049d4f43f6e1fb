"""Digests: many low-urgency decisions for one route, collapsed into one periodic notification.

The notifier buffers decisions that do not page (``urgency == notify``) per route and, at the end of
each window, renders one digest instead of one message per decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hypercare_contracts.common import Severity
from hypercare_contracts.triaged import TriagedIssue

from hypercare_domain.notify.render import (
    DigestEntry,
    NotificationKind,
    RenderedNotification,
    RouteSummary,
    Urgency,
    format_time,
)

MAX_DIGEST_ENTRIES = 20


def latest_per_issue(decisions: Iterable[TriagedIssue]) -> list[TriagedIssue]:
    """Keep only the newest decision (highest version) of each issue, most severe and impactful first."""
    latest: dict[str, TriagedIssue] = {}
    for decision in decisions:
        kept = latest.get(decision.issue_id)
        if kept is None or decision.version > kept.version:
            latest[decision.issue_id] = decision
    return sorted(
        latest.values(),
        key=lambda d: (-d.severity.rank, -d.impact.score, -d.occurrences, d.issue_id),
    )


def digest_id(route: str, window_end: datetime) -> str:
    """A stable trigger id for one route's digest window (the delivery log's idempotency anchor)."""
    return f"digest:{route}:{int(window_end.timestamp())}"


def render_digest(
    decisions: Iterable[TriagedIssue],
    *,
    route: str,
    window_start: datetime,
    window_end: datetime,
    max_entries: int = MAX_DIGEST_ENTRIES,
) -> RenderedNotification:
    """Render one digest of the decisions buffered for ``route`` in a window.

    Args:
        decisions: the buffered decisions (several per issue allowed; the newest wins).
        route: the route the digest is for.
        window_start: start of the window.
        window_end: end of the window.
        max_entries: the most issues listed; the headline still counts all of them.

    Returns:
        A ``digest`` notification that never pages.

    Raises:
        ValueError: no decisions, or a window that ends before it starts.
    """
    if window_end < window_start:
        raise ValueError("window_end is before window_start")
    issues = latest_per_issue(decisions)
    if not issues:
        raise ValueError("a digest needs at least one decision")
    top = issues[0]
    count = len(issues)
    noun = "issue" if count == 1 else "issues"
    entries = tuple(
        DigestEntry(
            issue_id=i.issue_id,
            title=i.title,
            severity=i.severity,
            status=i.status,
            impact_score=i.impact.score,
            occurrences=i.occurrences,
            last_seen=i.last_seen,
        )
        for i in issues[:max_entries]
    )
    hidden = count - len(entries)
    more = f" (showing {len(entries)})" if hidden > 0 else ""
    highest: Severity = top.severity
    return RenderedNotification(
        kind=NotificationKind.DIGEST,
        urgency=Urgency.NOTIFY,
        trigger_id=digest_id(route, window_end),
        issue_id=None,
        title=f"[DIGEST] {count} {noun} for {route}",
        headline=f"{count} {noun} from {format_time(window_start)} to {format_time(window_end)}{more}",
        severity=highest,
        occurred_at=window_end,
        route=RouteSummary(name=route, team=top.route.team, escalation_policy=top.route.escalation_policy),
        occurrences=sum(i.occurrences for i in issues),
        digest=entries,
    )
