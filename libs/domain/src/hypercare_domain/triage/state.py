"""The state of one issue as triage keeps it between reports (stored as JSONB by the triage service).

Every collection is a sorted or insertion-ordered tuple with a cap from the policy, so a state stays
small however many reports an issue absorbs, and the same reports always give the same JSON.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypercare_contracts import (
    Decision,
    Impact,
    IssueStatus,
    MergeRule,
    NormalizedReport,
    ReporterKind,
    ReportSummary,
    Route,
    ScoreItem,
    Severity,
    Source,
    SourceFormat,
)
from hypercare_contracts.normalized import Tier
from pydantic import AwareDatetime, BaseModel, ConfigDict

from hypercare_domain.sentiment import sentiment
from hypercare_domain.triage.memo import PolicyMemo
from hypercare_domain.triage.policy import TriagePolicy
from hypercare_domain.triage.text import FoldedText, PhraseMatcher, fold, folded_signature, phrase_matcher
from hypercare_domain.triage.views import (
    RecentView,
    as_set,
    derive_set,
    micros,
    recent_view,
    release_recent,
    remember_recent,
)

_PRIORITY_ORDER = ("low", "normal", "high", "urgent")
SAMPLE_TEXT_MAX = 500


class StateModel(BaseModel):
    """Base of the state models: immutable, unknown keys rejected when loaded back."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RecentReport(StateModel):
    """When a recent report came and from whom, for rate rules (``None`` for monitors)."""

    at: AwareDatetime
    reporter: str | None = None


class IssueSignals(StateModel):
    """The strongest signals seen across an issue's reports."""

    groups: dict[str, str] = {}
    """Phrase group name -> the first phrase that hit it (shown in explanations)."""
    users_affected: int = 0
    followers: int = 0
    negative_followers: int = 0
    """Largest follower count among reports with negative sentiment."""
    engagement: int = 0
    worst_rating: int | None = None
    alert_severity: str | None = None
    source_priority: str | None = None
    revenue_at_risk: float = 0
    tiers: tuple[Tier, ...] = ()
    failing_tiers: tuple[Tier, ...] = ()
    verified: bool = False
    sentiment_min: float = 0
    sentiment_sum: float = 0
    sentiment_count: int = 0

    @property
    def sentiment_mean(self) -> float:
        """Mean sentiment of the scored (non-monitor) reports, 0 when none."""
        return self.sentiment_sum / self.sentiment_count if self.sentiment_count else 0.0


class IssueState(StateModel):
    """One issue: identity, lifecycle, assessment and the bounded history scoring needs."""

    issue_id: str
    fingerprint: str
    component: str
    environment: str
    title: str
    source: Source
    sources: tuple[Source, ...]
    labels: dict[str, str]
    source_refs: tuple[str, ...]
    open_refs: tuple[str, ...]
    status: IssueStatus = IssueStatus.OPEN
    opened: bool = False
    """False while the issue waits for ``open_after_reports`` reports."""
    paused: bool = False
    severity: Severity = Severity.LOW
    impact: Impact = Impact(score=0, reach=0, financial=0, reputational=0)
    breakdown: tuple[ScoreItem, ...] = ()
    """The breakdown of the last assessment, or empty when it was not written out (no decision was
    built since): :func:`~hypercare_domain.triage.engine.written_breakdown` writes it out from the
    state. Never a breakdown older than ``severity`` and ``impact``."""
    assessed_at: AwareDatetime | None = None
    """The instant of the last assessment (the ``received_at`` of the report that caused it); None in
    states stored before it was kept, which always carry their breakdown."""
    route: Route
    occurrences: int = 0
    distinct_reporters: int = 0
    reporters: tuple[str, ...] = ()
    recent: tuple[RecentReport, ...] = ()
    signals: IssueSignals = IssueSignals()
    signatures: tuple[str, ...] = ()
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    resolved_at: AwareDatetime | None = None
    flap_count: int = 0
    reopen_count: int = 0
    version: int = 0
    suppressed_by: str | None = None
    pending: tuple[str, ...] = ()
    samples: tuple[ReportSummary, ...] = ()
    last_decision: Decision | None = None
    last_merged_by: MergeRule = MergeRule.NEW
    decided_impact: float = 0
    notified: bool = False

    @property
    def is_resolved(self) -> bool:
        """Whether the issue is resolved."""
        return self.status is IssueStatus.RESOLVED

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (for a JSONB column); :meth:`from_json` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IssueState":
        """Load a state written by :meth:`to_json`."""
        return cls.model_validate(data)


def issue_id_for(fingerprint: str, first_event_id: str) -> str:
    """Deterministic issue id, so a replay of the same reports reproduces the same ids."""
    digest = hashlib.sha256(f"{fingerprint}\n{first_event_id}".encode()).hexdigest()
    return f"iss_{digest[:20]}"


SOURCE_ITEM_REFERENCES = ("dedup_key", "alertmanager_fingerprint", "grafana_fingerprint")
"""References that identify one source item across events. Others the normalizer keeps (alertname,
group_key, account_id, session_id, client) are shared by unrelated items and must never merge them."""


PASSIVE_SOURCES = frozenset({Source.FEEDBACK, Source.SOCIAL})
"""Sources that never close their items: in-app feedback and social posts."""
_PASSIVE_ITEMS = tuple(f"{f.value}:" for f in (SourceFormat.FEEDBACK, SourceFormat.SOCIAL))
"""Their ``source_ref`` prefixes (a ``source_ref`` starts with its format; states stored before open
items were limited to closable ones hold them in ``open_refs``)."""
_TICKET_ITEMS = tuple(f"{f.value}:" for f in (SourceFormat.ZENDESK, SourceFormat.GENERIC_TICKET))


def holds_open(active: Iterable[str], *, resolved_by_alert: bool) -> bool:
    """Whether the source items still ``active`` keep an issue open after one of its items resolved.

    An active alert always does: the monitor has not given the all-clear. An open ticket does unless
    the item that just resolved was an alert (the problem is gone; the support conversation closes on
    its own). In-app feedback and social posts never do: their sources have no way to close them.
    Items are told apart by their ``source_ref`` formats (``docs/fingerprints.md``); alert
    references such as ``dedup_key:...`` count as alerts.
    """
    for ref in active:
        if ref.startswith(_PASSIVE_ITEMS):
            continue
        if not ref.startswith(_TICKET_ITEMS) or not resolved_by_alert:
            return True
    return False


def report_keys(report: NormalizedReport) -> tuple[str, ...]:
    """The source item keys of a report: its ``source_ref`` and its identifying references (as
    ``name:value``, see :data:`SOURCE_ITEM_REFERENCES`)."""
    references = report.references
    extra = [f"{name}:{value}" for name in SOURCE_ITEM_REFERENCES if (value := references.get(name))]
    if not extra:
        return (report.source_ref,)
    return tuple(sorted({report.source_ref, *extra}))


@dataclass(frozen=True)
class ReportFacts:
    """What triage reads from one report, computed once."""

    keys: tuple[str, ...]
    reporter: str | None
    groups: dict[str, str]
    sentiment: float | None
    signature: str
    key_set: frozenset[str] = frozenset()
    """``keys`` as a set (for overlap tests against an issue's keys)."""


_matchers: PolicyMemo[None, PhraseMatcher] = PolicyMemo(size=1)


def _matcher(policy: TriagePolicy) -> PhraseMatcher:
    # By policy identity: building the key of phrase_matcher's cache for every report costs more than
    # matching some texts.
    return _matchers.get(
        policy,
        None,
        lambda: phrase_matcher(
            tuple((name, tuple(group.phrases)) for name, group in policy.phrase_groups.items())
        ),
    )


def _sentiment_of(report: NormalizedReport, text: str) -> float:
    """The score the normalizer gave the report, or computed here for a report that came without one."""
    return report.sentiment if report.sentiment is not None else sentiment(text)


def facts_of(report: NormalizedReport, policy: TriagePolicy) -> ReportFacts:
    """Phrase groups, sentiment, reporter key and similarity signature of one report."""
    text = f"{report.title}\n{report.text}"
    folded = FoldedText.of(text)
    is_monitor = report.reporter.kind is ReporterKind.MONITOR
    reporter = None if is_monitor else (report.reporter.id or f"ref:{report.source_ref}")
    keys = report_keys(report)
    return ReportFacts(
        keys=keys,
        reporter=reporter,
        groups=_matcher(policy).find(folded),
        sentiment=None if is_monitor else _sentiment_of(report, text),
        signature=folded_signature(folded),
        key_set=frozenset(keys),
    )


def _merged_signals(
    signals: IssueSignals, report: NormalizedReport, facts: ReportFacts, policy: TriagePolicy
) -> IssueSignals:
    raw, reporter = report.signals, report.reporter
    failing = any(policy.phrase_groups[name].failing for name in facts.groups)
    negative = facts.sentiment is not None and facts.sentiment <= policy.sentiment.negative_below
    alert = signals.alert_severity
    if raw.alert_severity and (
        alert is None or policy.alerts.rank(raw.alert_severity) > policy.alerts.rank(alert)
    ):
        alert = policy.alerts.canonical(raw.alert_severity)
    priority = signals.source_priority
    if raw.source_priority and (
        priority is None or _PRIORITY_ORDER.index(raw.source_priority) > _PRIORITY_ORDER.index(priority)
    ):
        priority = raw.source_priority
    tiers, failing_tiers = set(signals.tiers), set(signals.failing_tiers)
    if reporter.tier:
        tiers.add(reporter.tier)
        if failing:
            failing_tiers.add(reporter.tier)
    ratings = [r for r in (signals.worst_rating, raw.rating) if r is not None]
    scored = facts.sentiment is not None
    return IssueSignals(
        groups={**facts.groups, **signals.groups},
        users_affected=max(signals.users_affected, raw.users_affected or 0),
        followers=max(signals.followers, reporter.followers or 0),
        negative_followers=max(signals.negative_followers, (reporter.followers or 0) if negative else 0),
        engagement=max(signals.engagement, raw.engagement or 0),
        worst_rating=min(ratings) if ratings else None,
        alert_severity=alert,
        source_priority=priority,
        revenue_at_risk=max(signals.revenue_at_risk, raw.revenue_at_risk or 0),
        tiers=tuple(sorted(tiers)),
        failing_tiers=tuple(sorted(failing_tiers)),
        verified=signals.verified or reporter.verified,
        sentiment_min=min(signals.sentiment_min, facts.sentiment or 0.0),
        sentiment_sum=signals.sentiment_sum + (facts.sentiment or 0.0),
        sentiment_count=signals.sentiment_count + (1 if scored else 0),
    )


def _summary(report: NormalizedReport) -> ReportSummary:
    return ReportSummary(
        event_id=report.event_id, source=report.source, title=report.title, text=report.text[:SAMPLE_TEXT_MAX]
    )


def new_state(report: NormalizedReport, route: Route, at: datetime) -> IssueState:
    """An empty issue for ``report`` (which :func:`absorb` then adds), id derived from the report."""
    return IssueState(
        issue_id=issue_id_for(report.fingerprint, report.event_id),
        fingerprint=report.fingerprint,
        component=report.component,
        environment=report.environment,
        title=report.title,
        source=report.source,
        sources=(),
        labels={},
        source_refs=(),
        open_refs=(),
        route=route,
        first_seen=at,
        last_seen=at,
    )


def absorb(
    state: IssueState, report: NormalizedReport, facts: ReportFacts, policy: TriagePolicy, at: datetime
) -> IssueState:
    """``state`` with one more report (REPORT or UPDATE) counted in.

    A report counts as a new occurrence unless its source item is already active on the issue (an
    Alertmanager re-send, a second message on the same ticket) or, for in-app feedback and social posts,
    already on it at all. Only items their sources can close (alerts, tickets) become active
    (``open_refs``): the others never hold an issue open (:func:`holds_open`), so keeping them there
    would only double the largest part of a hot issue's state.
    """
    limits = policy.grouping
    key_set = facts.key_set or frozenset(facts.keys)
    closable = report.source not in PASSIVE_SOURCES
    new_occurrence = key_set.isdisjoint(as_set(state.open_refs if closable else state.source_refs))
    reporters, distinct = state.reporters, state.distinct_reporters
    if facts.reporter is not None:
        known = as_set(reporters)
        if facts.reporter not in known:
            distinct += 1
            if len(reporters) < limits.max_reporters:
                grown = (*reporters, facts.reporter)
                derive_set(reporters, grown, added=(facts.reporter,))
                reporters = grown
    horizon = max((rule.window_minutes for rule in policy.reach_rules), default=60)
    kept = _recent_after(
        state.recent,
        micros(at - timedelta(minutes=horizon)),
        RecentReport(at=at, reporter=facts.reporter) if new_occurrence else None,
        limits.max_recent,
    )
    samples, signatures = state.samples, state.signatures
    if len(samples) < limits.samples and fold(report.title) not in {fold(sample.title) for sample in samples}:
        samples = (*samples, _summary(report))
        signatures = (*signatures, facts.signature)
    return state.model_copy(
        update={
            "occurrences": state.occurrences + (1 if new_occurrence else 0),
            "distinct_reporters": distinct,
            "reporters": reporters,
            "recent": kept,
            "signals": _merged_signals(state.signals, report, facts, policy),
            "sources": tuple(sorted({*state.sources, report.source})),
            "labels": {**state.labels, **report.labels},
            "source_refs": _capped_union(state.source_refs, facts.keys, limits.max_source_refs),
            "open_refs": _capped_union(state.open_refs, facts.keys, limits.max_source_refs)
            if closable
            else state.open_refs,
            "samples": samples,
            "signatures": signatures,
            "first_seen": min(state.first_seen, at),
            "last_seen": max(state.last_seen, at),
        }
    )


def _recent_after(
    recent: tuple[RecentReport, ...], after: int, added: RecentReport | None, cap: int
) -> tuple[RecentReport, ...]:
    """The entries of ``recent`` later than ``after`` (microseconds), then ``added``, the last ``cap``.

    The :class:`~hypercare_domain.triage.views.RecentView` of the result is derived from the one of
    ``recent`` (entries added and removed) rather than computed again.
    """
    view = recent_view(recent)
    entries, times = recent, view.times
    removed: list[RecentReport] = []
    if not view.all_after(after):  # some entries left the window (the view now knows the earliest)
        inside = [time > after for time in times]
        removed = [entry for entry, keep in zip(recent, inside, strict=True) if not keep]
        entries = tuple(entry for entry, keep in zip(recent, inside, strict=True) if keep)
        times = tuple(time for time, keep in zip(times, inside, strict=True) if keep)
        bound, exact = min(times, default=None), True
    elif added is None and len(recent) <= cap:
        return recent
    else:
        bound, exact = view.bound, view.exact
    added_at = micros(added.at) if added is not None else None
    if added_at is not None and (bound is None or added_at < bound):
        bound, exact = added_at, True  # earlier than every entry: the earliest
    # The oldest entries beyond the cap leave (the policy's cap is at least one, so never the added one).
    dropped = max(0, len(entries) + (added is not None) - cap)
    gone_times = times[:dropped]
    removed.extend(entries[:dropped])
    # One copy of each tuple: the kept entries, then the added one.
    entries = entries[dropped:] + ((added,) if added is not None else ())
    times = times[dropped:] + ((added_at,) if added_at is not None else ())
    if gone_times and bound is not None and min(gone_times) <= bound:
        exact = False  # the earliest may have left; the bound still holds for the rest
    # ``recent`` is being replaced: its view's counts move to the new tuple instead of being copied.
    release_recent(recent)
    reporters = view.reporters
    if added is not None:
        reporters[added.reporter] += 1
    for gone in removed:
        reporters[gone.reporter] -= 1
        if not reporters[gone.reporter]:
            del reporters[gone.reporter]
    remember_recent(entries, RecentView(times, bound, reporters, exact))
    return entries


def _capped_union(current: tuple[str, ...], added: tuple[str, ...], cap: int) -> tuple[str, ...]:
    """``current`` then the keys of ``added`` not in it, keeping the last ``cap``."""
    present = as_set(current)
    fresh = [key for key in added if key not in present]
    if not fresh and len(current) <= cap:
        return current
    over = len(current) + len(fresh) - cap
    if over <= 0:
        merged = (*current, *fresh)
        derive_set(current, merged, added=fresh)
        return merged
    if over <= len(current):  # the usual case at the cap: one copy, the kept keys then the new ones
        kept, gone = current[over:] + tuple(fresh), current[:over]
    else:
        merged = (*current, *fresh)
        kept, gone = merged[over:], merged[:over]
    if len(present) == len(current):
        # Every key is in ``current`` then ``fresh`` once, so the dropped keys leave the set.
        derive_set(current, kept, added=fresh, removed=gone)
    return kept
