"""What a triage decision means for the lifecycle: the commands a source action or decision implies (no I/O)."""

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, Via
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, TriagedIssue

SOURCE_ACTOR = "source"
TRIAGE_ACTOR = "triage"

_SOURCE_ACTIONS = {
    ReportAction.ACKNOWLEDGE: LifecycleAction.ACKNOWLEDGE,
    ReportAction.RESOLVE: LifecycleAction.RESOLVE,
    ReportAction.PENDING: LifecycleAction.PAUSE,
    ReportAction.RESUMED: LifecycleAction.RESUME,
}


def implied_commands(issue: TriagedIssue) -> list[LifecycleCommand]:
    """The lifecycle commands a triage decision carries, in the order to apply them.

    A ``reopened`` decision reopens; a ``resolved`` decision resolves; a ``source_action`` (the source itself
    acknowledged, resolved, or started or stopped waiting on the customer) becomes the matching command.
    Command ids derive from the decision id, so a redelivered decision changes nothing twice.
    """
    wanted: list[tuple[LifecycleAction, Via, str]] = []
    if issue.decision is Decision.REOPENED:
        wanted.append((LifecycleAction.REOPEN, Via.TRIAGE, TRIAGE_ACTOR))
    action = _SOURCE_ACTIONS.get(issue.source_action) if issue.source_action is not None else None
    if action is not None:
        wanted.append((action, Via.SOURCE, SOURCE_ACTOR))
    if issue.decision is Decision.RESOLVED and action is not LifecycleAction.RESOLVE:
        wanted.append((LifecycleAction.RESOLVE, Via.TRIAGE, TRIAGE_ACTOR))
    return [
        LifecycleCommand(
            command_id=f"triage:{issue.decision_id}:{act.value}",
            issue_id=issue.issue_id,
            action=act,
            actor=actor,
            via=via,
            at=issue.decided_at,
        )
        for act, via, actor in wanted
    ]
