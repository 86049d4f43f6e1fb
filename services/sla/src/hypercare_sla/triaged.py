"""What a triage decision means for the lifecycle (no I/O): whether it is still news, and the commands a source
action or decision implies."""

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


def is_superseded(decision: TriagedIssue, applied_version: int | None) -> bool:
    """Whether a triage decision was applied already, or was overtaken by a later one, and so changes nothing.

    Triage raises an issue's ``version`` with every change it makes to the issue (a report, a source's own
    action, a release, a person's lifecycle command) and builds each decision at the version it just reached,
    with ``decision_id`` ``"{issue_id}:{version}"``. Two different decisions of one issue therefore never share a
    version: one whose version equals the last applied is that decision delivered again (a redelivery, a
    replay of the topic), and one with a lower version came after a later decision, which already carries the
    issue's severity, route and status as triage decided them after it. Applying either would replan the
    clocks under stale facts, and the implied commands of an overtaken decision could undo a later one (its
    resolve after the reopen that followed it), so both are skipped whole. Comparing ``decision_id`` as well
    would add nothing: it is a function of the version.

    Args:
        decision: the decision consumed.
        applied_version: the version of the last decision applied to the issue; ``None`` when none is known
            (an issue not seen yet, or stored before versions were recorded), in which case it applies.
    """
    return applied_version is not None and decision.version <= applied_version


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
