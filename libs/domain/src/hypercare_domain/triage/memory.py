"""Issues kept in memory: the store of the offline replay and of unit tests."""

from collections.abc import Iterable

from hypercare_contracts import NormalizedReport

from hypercare_domain.triage.batch import BatchResult
from hypercare_domain.triage.decisions import Step
from hypercare_domain.triage.grouping import is_candidate
from hypercare_domain.triage.state import IssueState


class InMemoryIssues:
    """An :class:`~hypercare_domain.triage.batch.IssueLookup` over a dict of issue states."""

    def __init__(self, states: Iterable[IssueState] = ()) -> None:
        """Start with ``states`` (none by default)."""
        self._states: dict[str, IssueState] = {state.issue_id: state for state in states}

    def find_candidates(self, report: NormalizedReport) -> list[IssueState]:
        """Every stored issue :func:`~hypercare_domain.triage.grouping.is_candidate` accepts."""
        return [state for state in self._states.values() if is_candidate(report, state)]

    def save(self, states: Iterable[IssueState]) -> None:
        """Store (or replace) ``states``."""
        self._states.update({state.issue_id: state for state in states})

    def apply(self, result: BatchResult) -> None:
        """Store every state a batch changed."""
        self.save(result.states_changed.values())

    def apply_steps(self, steps: Iterable[Step]) -> None:
        """Store the states of steps (such as those of ``release_expired``)."""
        self.save(step.state for step in steps if step.state is not None)

    def get(self, issue_id: str) -> IssueState | None:
        """The stored issue ``issue_id``, if any."""
        return self._states.get(issue_id)

    def all(self) -> list[IssueState]:
        """Every stored issue, ordered by id."""
        return [self._states[issue_id] for issue_id in sorted(self._states)]
