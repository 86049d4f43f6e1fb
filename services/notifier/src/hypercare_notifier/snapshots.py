"""The notifier's snapshot of an issue (:class:`~hypercare_notifier.planning.IssueState`) to and from its
``notifier_issues`` row."""

from __future__ import annotations

from hypercare_contracts.lifecycle import LifecycleAction
from hypercare_contracts.triaged import TriagedIssue
from hypercare_store.deliveries import IssueSnapshotRow

from hypercare_notifier.planning import IssueState, TopicPosition, Transition


def state_of(row: IssueSnapshotRow | None, issue_id: str) -> IssueState:
    """The snapshot ``row`` holds (an empty one for an issue without a row)."""
    if row is None:
        return IssueState(issue_id)
    taken = None
    if row.lifecycle_action is not None and row.lifecycle_at is not None:
        taken = Transition(LifecycleAction(row.lifecycle_action), row.lifecycle_at)
    position = None
    if row.lifecycle_partition is not None and row.lifecycle_offset is not None:
        position = TopicPosition(row.lifecycle_partition, row.lifecycle_offset)
    return IssueState(
        issue_id=issue_id,
        issue=TriagedIssue.model_validate_json(row.issue) if row.issue else None,
        version=row.version,
        acknowledged=row.acknowledged,
        resolved=row.resolved,
        paged_channels=frozenset(row.paged_channels),
        lifecycle=taken,
        cycle_at=row.cycle_at,
        cycle_by_person=row.cycle_by_person,
        lifecycle_position=position,
    )


def row_of(state: IssueState, revision: int) -> IssueSnapshotRow:
    """The row of ``state``, written at ``revision``."""
    return IssueSnapshotRow(
        issue_id=state.issue_id,
        version=state.version,
        issue=state.issue.model_dump_json() if state.issue is not None else None,
        acknowledged=state.acknowledged,
        resolved=state.resolved,
        paged_channels=tuple(sorted(state.paged_channels)),
        lifecycle_action=None if state.lifecycle is None else state.lifecycle.action.value,
        lifecycle_at=None if state.lifecycle is None else state.lifecycle.at,
        cycle_at=state.cycle_at,
        cycle_by_person=state.cycle_by_person,
        lifecycle_partition=None if state.lifecycle_position is None else state.lifecycle_position.partition,
        lifecycle_offset=None if state.lifecycle_position is None else state.lifecycle_position.offset,
        revision=revision,
    )
