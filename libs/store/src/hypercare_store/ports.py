"""What the triage service asks of its issue store, as values and a narrow Protocol.

The PostgreSQL adapter (:class:`hypercare_store.issues.PgIssueStore`) and the tests' in-memory fake
both implement :class:`IssueStore`.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from hypercare_contracts import MergeRule, NormalizedReport, TriagedIssue
from hypercare_domain.triage import AuditEntry, IssueState
from hypercare_domain.triage.state import report_keys

Scope = tuple[str, str]
"""(component, environment): the unit of cross-fingerprint merging, and of write locking."""


class StaleReadError(Exception):
    """Another writer changed an issue this batch was triaged against; triage the batch again."""


@dataclass(frozen=True)
class CandidateQuery:
    """Which issues a batch may touch: by fingerprint, by source item key, and open ones per scope.

    Keys with a hint (an issue id remembered for them in Redis) are looked up by that id instead of
    through their index; :meth:`full` drops the hints again.
    """

    event_ids: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    scopes: tuple[Scope, ...] = ()
    hinted_issue_ids: tuple[str, ...] = ()
    hinted_fingerprints: tuple[str, ...] = ()
    hinted_refs: tuple[str, ...] = ()

    @classmethod
    def for_reports(
        cls, reports: Iterable[NormalizedReport], hints: Mapping[str, str] | None = None
    ) -> "CandidateQuery":
        """The query for a batch; ``hints`` maps ``fp:<fingerprint>``/``ref:<key>`` to an issue id."""
        events: dict[str, None] = {}
        fingerprints: set[str] = set()
        refs: set[str] = set()
        scopes: set[Scope] = set()
        for report in reports:
            events[report.event_id] = None
            fingerprints.add(report.fingerprint)
            refs.update(report_keys(report))
            scopes.add((report.component, report.environment))
        plain = cls(
            event_ids=tuple(events),
            fingerprints=tuple(sorted(fingerprints)),
            refs=tuple(sorted(refs)),
            scopes=tuple(sorted(scopes)),
        )
        return plain.with_hints(hints) if hints else plain

    def with_hints(self, hints: Mapping[str, str]) -> "CandidateQuery":
        """This query with the keys ``hints`` knows looked up by their issue id instead.

        Args:
            hints: ``fp:<fingerprint>``/``ref:<key>`` -> issue id.
        """
        full = self.full()
        hinted_fps = {fp for fp in full.fingerprints if f"fp:{fp}" in hints}
        hinted_refs = {ref for ref in full.refs if f"ref:{ref}" in hints}
        hinted_ids = {hints[f"fp:{fp}"] for fp in hinted_fps} | {hints[f"ref:{r}"] for r in hinted_refs}
        return CandidateQuery(
            event_ids=self.event_ids,
            fingerprints=tuple(fp for fp in full.fingerprints if fp not in hinted_fps),
            refs=tuple(ref for ref in full.refs if ref not in hinted_refs),
            scopes=self.scopes,
            hinted_issue_ids=tuple(sorted(hinted_ids)),
            hinted_fingerprints=tuple(sorted(hinted_fps)),
            hinted_refs=tuple(sorted(hinted_refs)),
        )

    def full(self) -> "CandidateQuery":
        """The same query with every key looked up through its index (what a recheck must use)."""
        return CandidateQuery(
            event_ids=self.event_ids,
            fingerprints=tuple(sorted({*self.fingerprints, *self.hinted_fingerprints})),
            refs=tuple(sorted({*self.refs, *self.hinted_refs})),
            scopes=self.scopes,
        )


@dataclass(frozen=True)
class Snapshot:
    """What one read returned: event ids already stored, candidate issues, and the read's token.

    ``token`` identifies the database snapshot the read saw; a write passes it back so the store can
    tell whether a candidate changed since.
    """

    known_event_ids: frozenset[str]
    issues: dict[str, IssueState]
    token: str


@dataclass(frozen=True)
class StoredReport:
    """A report with the issue it was attached to (None: ignored) and the rule that attached it."""

    report: NormalizedReport
    issue_id: str | None
    rule: MergeRule


@dataclass(frozen=True)
class OutgoingDecision:
    """A decision with the Kafka headers it is published with (trace id, ingestion time)."""

    decision: TriagedIssue
    headers: dict[str, str] = field(default_factory=dict)

    @cached_property
    def payload(self) -> str:
        """The decision as JSON, made once for the outbox row and the Kafka message (~5 KB each)."""
        return self.decision.model_dump_json()


@dataclass(frozen=True)
class BatchWrite:
    """Everything one batch writes, in one transaction.

    ``prior_versions`` holds, per written issue, the version it had when read (0 for a new issue); the
    write fails with :class:`StaleReadError` if any differs now, or if a candidate of ``recheck`` was
    changed by a transaction the read (``token``) did not see, other than ``seen_writers``: the
    transactions whose writes the batch took into account although its read may have come before their
    commit (the batch it was triaged on top of).
    """

    states: tuple[IssueState, ...]
    prior_versions: Mapping[str, int]
    reports: tuple[StoredReport, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    decisions: tuple[OutgoingDecision, ...] = ()
    recheck: CandidateQuery = CandidateQuery()
    token: str | None = None
    seen_writers: tuple[int, ...] = ()

    @property
    def lock_scopes(self) -> tuple[Scope, ...]:
        """Scopes locked for the write: those of the batch's reports and of the issues it writes."""
        scopes = set(self.recheck.scopes) | {(s.component, s.environment) for s in self.states}
        return tuple(sorted(scopes))


@dataclass(frozen=True)
class OpenCount:
    """Open (published, unresolved) issues of one severity and route."""

    severity: str
    route: str
    count: int


class IssueStore(Protocol):
    """The persistence the triage service uses."""

    async def load_batch(self, *, query: CandidateQuery) -> Snapshot:
        """In one round trip: which event ids are stored, and every candidate issue."""
        ...

    async def save_batch(self, *, write: BatchWrite) -> int:
        """Write a batch in one transaction, whose id it returns (a later write may name it in
        ``seen_writers``); raises :class:`StaleReadError` when it must be retried."""
        ...

    async def load_issue(self, *, issue_id: str) -> IssueState | None:
        """One issue by id."""
        ...

    async def suppressed_open(self) -> list[IssueState]:
        """Published, unresolved issues currently held back by a window or silence."""
        ...

    async def open_counts(self) -> list[OpenCount]:
        """Open issues by severity and route (for the gauge)."""
        ...

    async def unpublished(self, *, older_than_seconds: float, limit: int) -> list[OutgoingDecision]:
        """Decisions committed but not confirmed published for a while (crash between the two)."""
        ...

    async def mark_published(self, *, decision_ids: list[str]) -> None:
        """Record that Kafka confirmed these decisions (they are not sent again)."""
        ...
