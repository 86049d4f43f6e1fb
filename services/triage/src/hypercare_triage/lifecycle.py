"""Lifecycle events from people (acknowledge, resolve, reopen, snooze) applied to an issue's state."""

from hypercare_contracts import IssueStatus, LifecycleEvent
from hypercare_domain.triage import AuditEntry, IssueState


def with_lifecycle(state: IssueState, event: LifecycleEvent) -> IssueState | None:
    """``state`` with the status ``event`` moved it to, or None when that changes nothing.

    A resolve by a person retires the issue's active source items, so a later matching report within
    the reopen window reopens the issue as a source's own resolve would.
    """
    if state.status is event.to_status:
        return None
    update: dict[str, object] = {"status": event.to_status, "version": state.version + 1}
    if event.to_status is IssueStatus.RESOLVED:
        update.update(resolved_at=event.at, open_refs=(), paused=False)
    elif state.status is IssueStatus.RESOLVED:
        update["resolved_at"] = None
    return state.model_copy(update=update)


def lifecycle_audit(state: IssueState, event: LifecycleEvent) -> AuditEntry:
    """The audit row of a status change made by a person."""
    return AuditEntry(
        issue_id=state.issue_id,
        at=event.at,
        action=f"lifecycle.{event.action.value}",
        detail={
            "from_status": event.from_status.value,
            "to_status": event.to_status.value,
            "via": event.via.value,
            "version": state.version,
        },
        actor=event.actor,
        event_id=event.event_id,
    )
