"""What a triage decision means for the lifecycle (no I/O): whether it is still news, and the commands a source
action or decision implies."""

from enum import StrEnum

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


class Arrival(StrEnum):
    """How a triage decision stands to the last one applied to its issue (the value is the ``outcome`` it is
    counted under in ``hypercare_sla_triage_decisions_total``)."""

    NEW = "applied"
    """Above the last applied version (or none is known): it applies."""
    AGAIN = "superseded"
    """The last applied version itself, delivered again: it changes nothing."""
    OVERTAKEN = "overtaken"
    """Below the last applied version: published after a later decision, which already carries the issue's
    severity, route and status as triage decided them after it. Only its source's action still applies."""


def arrival(decision: TriagedIssue, applied_version: int | None) -> Arrival:
    """Whether a triage decision is news, the last applied one again, or overtaken by a later one.

    Triage raises an issue's ``version`` with every change it makes to the issue (a report, a source's own
    action, a release, a person's lifecycle command) and builds each decision at the version it just reached,
    with ``decision_id`` ``"{issue_id}:{version}"``. Two different decisions of one issue therefore never share a
    version: one whose version equals the last applied is that decision delivered again (a redelivery, a
    replay of the topic), and one with a lower version was published after a later decision (triage's outbox
    sweep publishes late) or is replayed. Comparing ``decision_id`` as well would add nothing: it is a
    function of the version.

    Args:
        decision: the decision consumed.
        applied_version: the version of the last decision applied to the issue; ``None`` when none is known
            (an issue not seen yet, or stored before versions were recorded), in which case it is news.
    """
    if applied_version is None or decision.version > applied_version:
        return Arrival.NEW
    return Arrival.AGAIN if decision.version == applied_version else Arrival.OVERTAKEN


def source_commands(issue: TriagedIssue) -> list[LifecycleCommand]:
    """The commands of what the source itself did, all an overtaken decision still applies.

    Its severity, route, reopen and resolve are triage's own view at that version, which the later decision
    replaced: applied now they would replan the clocks under stale facts or undo the later decision. What
    the source did (an agent acknowledged, resolved, set the ticket pending or resumed it) happened all the
    same and would otherwise be lost; the lifecycle refuses it if a later change overtook it
    (:func:`~hypercare_domain.sla.overtaken_by`).
    """
    return [command for command in implied_commands(issue) if command.via is Via.SOURCE]


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
