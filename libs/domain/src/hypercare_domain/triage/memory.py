"""Issues kept in memory: the store of the offline replay and of unit tests, and the triage service's
candidate index across batches."""

from collections.abc import Collection, Iterable, Mapping

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

    def apply(self, result: BatchResult, reports: Iterable[NormalizedReport] | None = None) -> None:
        """Store every state a batch changed.

        Given the batch's reports, a changed state is indexed under the keys of the reports linked to
        it, which are the only keys triage adds to an issue, instead of comparing its keys with those of
        the state it replaces (a thousand on a hot issue). That is right when the batch was triaged
        against this store: the states it replaces, with their other keys, are indexed already.
        """
        states = result.states_changed
        if reports is not None:
            keys_of = {report.event_id: report_keys(report) for report in reports}
            for link in result.report_links:
                state, keys = states.get(link.issue_id), keys_of.get(link.event_id)
                if state is not None and keys is not None:
                    self._order.setdefault(state.issue_id, len(self._order))
                    self._index.put(state, keys)
        self.save(state for state in states.values() if self._index.states.get(state.issue_id) is not state)

    def forget(self, issue_id: str) -> None:
        """Stop finding ``issue_id`` (until it is stored again)."""
        self._index.forget(issue_id)

    def restore(self, state: IssueState) -> None:
        """Find again a state that :meth:`forget` left out, unchanged since: its keys are still indexed,
        so only its fingerprint and scope are put back (not its up to a thousand source item keys)."""
        self._order.setdefault(state.issue_id, len(self._order))
        self._index.put(state, ())

    @property
    def key_count(self) -> int:
        """Source item keys indexed (forgotten issues' included)."""
        return self._index.key_count

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


class SnapshotIndex:
    """The candidate lookup of the triage service, kept from one batch to the next.

    Each batch triages against the issues its store read returned (the *snapshot*). Indexing them
    afresh for every batch meant putting every source item key of every candidate (up to a thousand
    per hot issue, some forty hot issues) into a new index: at moderate rates, with small batches,
    that was the largest fixed cost of a batch. Here the index lives on: a batch re-indexes only the
    states that are not the objects already indexed (read again from the store), and a committed
    batch adds only the keys its reports brought (:meth:`InMemoryIssues.apply`).

    Lookups answer for the snapshot alone: states not in it are forgotten (their keys stay behind and
    are checked against the current states, as the index always does). Keys left behind are bounded:
    past ``max_keys`` the index starts over.

    A forgotten state is kept aside (the last ``max_aside`` of them): when a later snapshot holds that
    same object again (the store's cache hands out unchanged states as they are), it is restored
    without indexing its keys again. At 1,000 reports/s a batch's snapshot brought back ~6 issues that
    the batch before had left out, with ~300 source item keys each.
    """

    def __init__(self, *, max_keys: int = 200_000, max_aside: int = 256) -> None:
        """An empty index, rebuilt from the next snapshot once it holds ``max_keys`` keys."""
        self._issues = InMemoryIssues()
        self._max_keys = max_keys
        self._aside: dict[str, IssueState] = {}
        self._max_aside = max_aside

    def lookup(self, snapshot: Mapping[str, IssueState]) -> InMemoryIssues:
        """A lookup over exactly the states of ``snapshot`` (issue id -> state)."""
        if self._issues.key_count > self._max_keys:
            self._issues = InMemoryIssues()
            self._aside.clear()
        issues, aside = self._issues, self._aside
        for state in issues.all():
            if state.issue_id not in snapshot:
                issues.forget(state.issue_id)
                aside.pop(state.issue_id, None)  # the newest last: the oldest go first
                aside[state.issue_id] = state
        while len(aside) > self._max_aside:
            del aside[next(iter(aside))]
        changed: list[IssueState] = []
        for state in snapshot.values():
            held = issues.get(state.issue_id)
            if held is state:
                continue
            if held is None and aside.pop(state.issue_id, None) is state:
                issues.restore(state)
            else:
                changed.append(state)
        issues.save(changed)
        return issues

    def committed(self, result: BatchResult, reports: Iterable[NormalizedReport]) -> None:
        """Index what a committed batch, triaged against :meth:`lookup`'s answer, changed."""
        self._issues.apply(result, reports)
