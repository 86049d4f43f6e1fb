"""Triage of a batch of reports against a store of issues, in order."""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from hypercare_contracts import MergeRule, NormalizedReport, ReportAction, TriagedIssue

from hypercare_domain.triage.decisions import AuditEntry, Step
from hypercare_domain.triage.engine import decide
from hypercare_domain.triage.grouping import match
from hypercare_domain.triage.policy import TriagePolicies
from hypercare_domain.triage.state import IssueState, ReportFacts, facts_of, report_keys
from hypercare_domain.triage.views import as_set

_ABSORBED = (ReportAction.REPORT, ReportAction.UPDATE)
"""Actions whose reports are absorbed (and so need their facts); the others only move the status."""


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


class FailedReport(NamedTuple):
    """A report the engine raised on: a defect, left out of the batch with what it raised."""

    report: NormalizedReport
    error: Exception

    @property
    def reason(self) -> str:
        """What a dead letter says of it, for a person."""
        return f"triage failed on this report, a defect to report: {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class BatchResult:
    """Everything a batch changed: states to save, decisions to publish, links and audit to record, and
    the reports left out because the engine raised on them (for the caller to dead-letter)."""

    states_changed: dict[str, IssueState] = field(default_factory=dict)
    decisions: list[TriagedIssue] = field(default_factory=list)
    report_links: list[ReportLink] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    failed: list[FailedReport] = field(default_factory=list)


class IssueIndex:
    """Issues by fingerprint, by (component, environment) and by source item key, for candidate lookup.

    Keys are added, never removed: the index may name an issue that has since dropped a key
    (``source_refs`` is capped), so every hit is checked against the issue's current keys.
    """

    def __init__(self) -> None:
        """An empty index."""
        self.states: dict[str, IssueState] = {}
        self._by_fingerprint: dict[str, set[str]] = defaultdict(set)
        self._by_scope: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._by_key: dict[str, str] = {}
        self._shared_keys: dict[str, set[str]] = {}
        """Keys held by more than one issue (rare: a source item on an old and a new issue)."""

    def put(self, state: IssueState, keys: Collection[str]) -> None:
        """Add or replace ``state``, indexing it under ``keys`` as well as the keys it had."""
        issue_id = state.issue_id
        if issue_id not in self.states:
            self._by_fingerprint[state.fingerprint].add(issue_id)
            self._by_scope[(state.component, state.environment)].add(issue_id)
        self.states[issue_id] = state
        by_key = self._by_key
        for key in by_key.keys() & keys:
            holder = by_key[key]
            if holder != issue_id:
                self._shared_keys.setdefault(key, {holder}).add(issue_id)
        # One C-level update instead of a Python loop over up to a thousand keys.
        by_key.update(dict.fromkeys(keys, issue_id))

    @property
    def key_count(self) -> int:
        """How many keys the index holds (it only grows, until rebuilt)."""
        return len(self._by_key)

    def forget(self, issue_id: str) -> None:
        """Stop answering with ``issue_id``; its keys stay (hits are checked against current states)."""
        state = self.states.pop(issue_id, None)
        if state is not None:
            self._by_fingerprint[state.fingerprint].discard(issue_id)
            self._by_scope[(state.component, state.environment)].discard(issue_id)

    def candidate_ids(self, report: NormalizedReport, keys: Collection[str]) -> set[str]:
        """Ids of the indexed issues that share one of ``keys`` (the report's) or the fingerprint,
        or are unresolved on the report's component and environment (see
        :func:`~hypercare_domain.triage.grouping.is_candidate`)."""
        states = self.states
        found = set(self._by_fingerprint.get(report.fingerprint, ()))
        for issue_id in self._by_scope.get((report.component, report.environment), ()):
            if not states[issue_id].is_resolved:
                found.add(issue_id)
        for key in keys:
            holder = self._by_key.get(key)
            if holder is None:
                continue
            for issue_id in self._shared_keys.get(key, (holder,)):
                state = states.get(issue_id)  # None: forgotten since
                if state is not None and key in as_set(state.source_refs):
                    found.add(issue_id)
        return found


def triage_batch(
    reports: Iterable[NormalizedReport], lookup: IssueLookup, policies: TriagePolicies, now: datetime
) -> BatchResult:
    """Triage ``reports`` in order; later reports see the effects of earlier ones in the same batch.

    Every report is processed, duplicates included: skipping reports already applied (replay
    idempotence) is the caller's job, by event id. A report the engine raises on is a defect that would
    raise again however often the batch was tried: it is left out (``failed``, with the exception) and
    the batch goes on without it. Its step had changed nothing yet: states are immutable, and a step's
    effects are recorded only once it returned.

    Args:
        reports: normalized reports, in topic order.
        lookup: loads candidate issues; states changed earlier in the batch take precedence.
        policies: the loaded triage policies.
        now: the decision time stamped on every decision.
    """
    result = BatchResult()
    changed = result.states_changed
    changed_index = IssueIndex()
    # A hot issue is rescored by report after report of a batch, but its breakdown is only read in the
    # decisions published: states are kept without it (``written_breakdown`` writes it out on demand).
    for report in reports:
        try:
            keys, step = _step(report, lookup, changed_index, changed, policies=policies, now=now)
        except MemoryError:
            raise  # the process's state, not the report's
        except Exception as exc:  # recorded in ``failed``, for the caller's dead letter
            result.failed.append(FailedReport(report, exc))
            continue
        result.audit.extend(step.audit)
        if step.state is None:
            continue
        changed[step.state.issue_id] = step.state
        changed_index.put(step.state, keys)
        result.report_links.append(ReportLink(report.event_id, step.state.issue_id, step.rule))
        if step.decision is not None:
            result.decisions.append(step.decision)
    return result


def _step(
    report: NormalizedReport,
    lookup: IssueLookup,
    changed_index: IssueIndex,
    changed: dict[str, IssueState],
    *,
    policies: TriagePolicies,
    now: datetime,
) -> tuple[frozenset[str], Step]:
    """The report's source item keys and its step against the loaded issues and those changed earlier in
    the batch; records nothing."""
    facts: ReportFacts | None = None
    if report.action in _ABSORBED:
        facts = facts_of(report, policies.triage)
        keys = facts.key_set
    else:
        keys = frozenset(report_keys(report))
    candidates = {issue.issue_id: issue for issue in lookup.find_candidates(report)}
    # A state changed earlier in the batch replaces the loaded one, and is a candidate on its own when its
    # current version is. The lookup answers for the keys an issue had when loaded, so ``changed`` only
    # indexes the keys added since (the keys of the reports it absorbed).
    taken = changed_index.candidate_ids(report, keys)
    taken.update(issue_id for issue_id in candidates if issue_id in changed)
    candidates.update((issue_id, changed[issue_id]) for issue_id in taken)
    ordered = sorted(candidates.values(), key=lambda issue: issue.issue_id)
    found = match(report, ordered, policies, report.received_at, facts=facts)
    state = candidates[found.issue_id] if found.issue_id is not None else None
    return keys, decide(report, state, policies, now, merged_by=found.rule, facts=facts, explain=False)
