"""Issues kept in memory: the store of the offline replay and of unit tests."""

from collections.abc import Collection, Iterable

from hypercare_contracts import NormalizedReport

from hypercare_domain.triage.batch import BatchResult, IssueIndex
from hypercare_domain.triage.decisions import Step
from hypercare_domain.triage.state import IssueState, report_keys
from hypercare_domain.triage.views import as_set


class InMemoryIssues:
    """An :class:`~hypercare_domain.triage.batch.IssueLookup` over a dict of issue states."""

    def __init__(self, states: Iterable[IssueState] = ()) -> None:
        """Start with ``states`` (none by default)."""
        self._index = IssueIndex()
        self._order: dict[str, int] = {}
        self.save(states)

    def find_candidates(self, report: NormalizedReport) -> list[IssueState]:
        """Every stored issue :func:`~hypercare_domain.triage.grouping.is_candidate` accepts, in the
        order they were first stored (looked up by fingerprint, scope and source item key)."""
        found = self._index.candidate_ids(report, report_keys(report))
        states = self._index.states
        return [states[issue_id] for issue_id in sorted(found, key=self._order.__getitem__)]

    def save(self, states: Iterable[IssueState]) -> None:
        """Store (or replace) ``states``."""
        for state in states:
            self._order.setdefault(state.issue_id, len(self._order))
            previous = self._index.states.get(state.issue_id)
            keys: Collection[str] = state.source_refs
            if previous is not None:
                keys = as_set(state.source_refs) - as_set(previous.source_refs)
            self._index.put(state, keys)

    def apply(self, result: BatchResult) -> None:
        """Store every state a batch changed."""
        self.save(result.states_changed.values())

    def apply_steps(self, steps: Iterable[Step]) -> None:
        """Store the states of steps (such as those of ``release_expired``)."""
        self.save(step.state for step in steps if step.state is not None)

    def get(self, issue_id: str) -> IssueState | None:
        """The stored issue ``issue_id``, if any."""
        return self._index.states.get(issue_id)

    def all(self) -> list[IssueState]:
        """Every stored issue, ordered by id."""
        states = self._index.states
        return [states[issue_id] for issue_id in sorted(states)]
