"""The lifecycle of issues: commands (HTTP, Kafka, links, sources) and triage decisions change the clocks.

Every change runs in one store session on the issue: the command is checked against its status by the
domain (:func:`~hypercare_domain.sla.apply_command`), the timeline is updated, the milestones are planned
again, the audit log is written, the :class:`LifecycleEvent` is published (the broker acknowledged it before
the transaction commits, so a failed publish changes nothing) and the command id is remembered, so a replay
answers the same without acting twice. A triage decision is applied once, and only if it is newer than the
last one applied to its issue (:func:`~hypercare_sla.triaged.arrival`): replaying the triaged topic
changes nothing, and of a decision overtaken by a later one only its source's action still applies. A command
made before a later change of the issue that it would undo is refused as ``overtaken``
(:func:`~hypercare_domain.sla.overtaken_by`), allowing for the skew between clocks. A new decision's
commands included: triage ordered them after its own earlier decisions, but not after people's commands,
which it learns of later. Every instant taken in is taken no later than the service's clock.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hypercare_contracts.lifecycle import LifecycleAction, LifecycleCommand, LifecycleEvent, Via
from hypercare_contracts.triaged import Decision, IssueStatus, TriagedIssue
from hypercare_domain.sla import (
    Clock,
    Rejection,
    RejectionReason,
    SlaPolicy,
    SlaTimeline,
    apply_command,
    change_severity,
    record_event,
    record_refusal,
)
from hypercare_runtime.logging import get_logger
from hypercare_store.sla import AuditEntry, CommandRecord, SlaIssue

from hypercare_sla.metrics import SlaMetrics
from hypercare_sla.planning import effective_status, planned_milestones, waiting_on_customer
from hypercare_sla.ports import EventSink, IssueSession, SlaStore
from hypercare_sla.triaged import TRIAGE_ACTOR, Arrival, arrival, implied_commands, source_commands
from hypercare_sla.views import IssueView, build_view

log = get_logger(__name__)


class Outcome(StrEnum):
    """What became of a command."""

    APPLIED = "applied"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"
    """The issue is unknown to the SLA service."""
    KEY_REUSED = "key_reused"
    """The command id was used before for another issue or action."""


@dataclass(frozen=True)
class CommandResult:
    """A command's outcome; ``replayed`` when it was handled before and this is the stored answer."""

    command: LifecycleCommand
    outcome: Outcome
    event: LifecycleEvent | None = None
    rejection: Rejection | None = None
    replayed: bool = False


@dataclass
class _Change:
    """What one session changed, to be saved and published before it commits."""

    issue: SlaIssue | None
    dirty: bool = False
    """The clocks changed: save, plan again, publish."""
    save: bool = False
    """Save even if no clock changed: a decision's version, or when a refused command confirmed the state."""
    events: list[LifecycleEvent] = field(default_factory=list)


class SlaService:
    """Applies lifecycle commands and triage decisions to the stored clocks."""

    def __init__(
        self,
        *,
        store: SlaStore,
        sink: EventSink,
        policy: SlaPolicy,
        clock: Clock,
        metrics: SlaMetrics,
        clock_skew: timedelta = timedelta(seconds=5),
        on_planned: Callable[[], None] = lambda: None,
    ) -> None:
        """Wire the service.

        Args:
            store: where issues, milestones and handled commands are kept.
            sink: where lifecycle events are published.
            policy: the SLA and escalation policy.
            clock: the service's clock.
            metrics: the service's metrics.
            clock_skew: how far other systems' clocks may be from ``clock``: a dated command is refused as
                overtaken only if made more than this before the change it would undo.
            on_planned: called once milestones were planned again (wakes the scheduler).
        """
        self._store = store
        self._sink = sink
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._skew = clock_skew
        self._on_planned = on_planned

    async def execute(self, command: LifecycleCommand) -> CommandResult:
        """Apply one command (idempotent by ``command_id``)."""
        async with self._store.session(command.issue_id) as session:
            change = _Change(session.issue)
            result = await self._apply(session, change, command, self._clock.now())
            await self._commit(session, change)
        self._count(result)
        return result

    async def on_triaged(self, triaged: TriagedIssue) -> list[CommandResult]:
        """Start, re-rate or stop the clocks of an issue after a triage decision.

        ``created``, ``reopened`` (of an issue not seen before) and ``released`` start a cycle at the decision
        instant; a suppressed issue gets no clock until released; a severity or route change re-plans; a
        ``resolved`` decision and the source's own actions become lifecycle commands. The decision applied
        last again changes nothing and returns no result; one overtaken by a later decision only applies its
        source's action (:func:`~hypercare_sla.triaged.source_commands`): see
        :func:`~hypercare_sla.triaged.arrival`.
        """
        now = self._clock.now()
        results: list[CommandResult] = []
        async with self._store.session(triaged.issue_id) as session:
            applied = session.issue.triage_version if session.issue is not None else None
            standing = arrival(triaged, applied)
            change = _Change(session.issue)
            for command in await self._decide(session, change, triaged, standing, now):
                if change.issue is not None:
                    results.append(await self._apply(session, change, command, now, triaged.version))
            await self._commit(session, change)
        self._metrics.decisions.labels(standing.value).inc()
        for result in results:
            self._count(result)
        return results

    async def view(self, issue_id: str) -> IssueView | None:
        """The issue's status, clocks, milestones and audit trail; ``None`` if unknown."""
        loaded = await self._store.load(issue_id)
        if loaded is None:
            return None
        issue, milestones, audit = loaded
        return build_view(issue, milestones, audit, self._policy, self._clock.now())

    async def _decide(
        self, session: IssueSession, change: _Change, triaged: TriagedIssue, standing: Arrival, now: datetime
    ) -> list[LifecycleCommand]:
        """Apply what a new decision decides (clocks, severity, route, its version) and return the lifecycle
        commands the decision implies; of one that is not new, only the source's action of an overtaken one."""
        if standing is not Arrival.NEW:
            log.info(
                "sla.decision_overtaken" if standing is Arrival.OVERTAKEN else "sla.decision_superseded",
                issue_id=triaged.issue_id,
                decision_id=triaged.decision_id,
                version=triaged.version,
                applied_version=change.issue.triage_version if change.issue is not None else None,
                source_action=triaged.source_action,
            )
            return source_commands(triaged) if standing is Arrival.OVERTAKEN else []
        fresh = await self._track(session, change, triaged, now)
        if change.issue is not None:
            change.issue = replace(change.issue, triage_version=triaged.version)
            change.save = True
        return [c for c in implied_commands(triaged) if not (fresh and c.action is LifecycleAction.REOPEN)]

    async def _track(
        self, session: IssueSession, change: _Change, triaged: TriagedIssue, now: datetime
    ) -> bool:
        """Create, release or re-rate the issue from the decision; returns whether a cycle started now."""
        at = min(triaged.decided_at, now)
        issue = change.issue
        if issue is None:
            if triaged.status is IssueStatus.RESOLVED or triaged.decision is Decision.RESOLVED:
                return False
            suppressed = triaged.decision is Decision.SUPPRESSED
            timeline = SlaTimeline(
                issue_id=triaged.issue_id,
                opened_at=at,
                severity=triaged.severity,
                route=triaged.route.name,
                escalation_policy=triaged.route.escalation_policy,
            )
            change.issue = SlaIssue(timeline, IssueStatus.OPEN, triaged.route.team, suppressed=suppressed)
            change.dirty = True
            await session.audit(
                _triage_audit(triaged, "sla.suppressed" if suppressed else "sla.started", timeline)
            )
            return not suppressed
        if issue.suppressed and triaged.decision is not Decision.SUPPRESSED:
            timeline = issue.timeline.model_copy(
                update={"opened_at": at, "severity": triaged.severity, "severity_raised_at": None}
            )
            change.issue = replace(issue, timeline=timeline, status=IssueStatus.OPEN, suppressed=False)
            change.dirty = True
            await session.audit(_triage_audit(triaged, "sla.started", timeline))
            return True
        timeline = change_severity(issue.timeline, triaged.severity, at)
        team = issue.team
        if triaged.route.name != timeline.route:
            timeline = timeline.model_copy(
                update={"route": triaged.route.name, "escalation_policy": triaged.route.escalation_policy}
            )
            team = triaged.route.team
        if timeline != issue.timeline:
            change.issue = replace(issue, timeline=timeline, team=team)
            change.dirty = True
            await session.audit(_triage_audit(triaged, "sla.rerated", timeline))
        return False

    async def _apply(
        self,
        session: IssueSession,
        change: _Change,
        command: LifecycleCommand,
        now: datetime,
        version: int | None = None,
    ) -> CommandResult:
        """Apply one command; ``version`` is the triage version of the decision it comes from, if any."""
        stored = await session.find_command(command.command_id)
        if stored is not None:
            return _replay(command, stored)
        issue = change.issue
        if issue is None:
            return CommandResult(command, Outcome.NOT_FOUND)
        outcome = apply_command(
            effective_status(issue, now),
            command,
            now,
            paused=waiting_on_customer(issue.timeline),
            marks=issue.timeline.marks,
            tolerance=self._skew,
            version=version,
        )
        if isinstance(outcome, Rejection):
            await self._refused(
                session, change, issue, command=command, rejection=outcome, now=now, version=version
            )
            await session.remember_command(_record(command, Outcome.REJECTED, _rejection_json(outcome)))
            return CommandResult(command, Outcome.REJECTED, rejection=outcome)
        event = outcome
        timeline = record_event(issue.timeline, event, now=now, version=version)
        team = event.team if event.action is LifecycleAction.REASSIGN and event.team else issue.team
        change.issue = replace(issue, timeline=timeline, status=event.to_status, team=team)
        change.dirty = True
        change.events.append(event)
        await session.audit(_event_audit(event, issue.timeline))
        await session.remember_command(
            _record(command, Outcome.APPLIED, {"event": event.model_dump(mode="json")})
        )
        if event.action is LifecycleAction.ACKNOWLEDGE:
            self._observe_acknowledge(timeline, event.at)
        return CommandResult(command, Outcome.APPLIED, event=event)

    async def _refused(
        self,
        session: IssueSession,
        change: _Change,
        issue: SlaIssue,
        *,
        command: LifecycleCommand,
        rejection: Rejection,
        now: datetime,
        version: int | None,
    ) -> None:
        """Record what a refused command still tells: the state it confirms, or the acknowledge of one whose
        status change was overtaken (it stops the response clock: plan again, audit it, no lifecycle event,
        since the status did not change)."""
        timeline = record_refusal(issue.timeline, rejection, command.at or now, now, version=version)
        if timeline == issue.timeline:
            return
        change.issue = replace(issue, timeline=timeline)
        change.save = True
        if timeline.acknowledged_at == issue.timeline.acknowledged_at or timeline.acknowledged_at is None:
            return
        change.dirty = True
        await session.audit(_response_stopped_audit(command, rejection, issue, timeline.acknowledged_at))
        self._observe_acknowledge(timeline, timeline.acknowledged_at)

    def _observe_acknowledge(self, timeline: SlaTimeline, at: datetime) -> None:
        self._metrics.time_to_acknowledge.labels(timeline.severity.value).observe(
            max(0.0, (at - timeline.opened_at).total_seconds())
        )

    async def _commit(self, session: IssueSession, change: _Change) -> None:
        if change.issue is None or not (change.dirty or change.save):
            return
        saved = await session.save(change.issue)
        if not change.dirty:
            return
        await session.replan(saved.issue_id, planned_milestones(saved, self._policy, self._clock.now()))
        for event in change.events:
            await self._sink.lifecycle(event)
        self._on_planned()

    def _count(self, result: CommandResult) -> None:
        command = result.command
        outcome = "replayed" if result.replayed else result.outcome.value
        self._metrics.commands.labels(command.action.value, command.via.value, outcome).inc()
        log.info(
            "lifecycle.command",
            issue_id=command.issue_id,
            command_id=command.command_id,
            action=command.action.value,
            via=command.via.value,
            outcome=outcome,
            reason=result.rejection.reason.value if result.rejection else None,
        )


def _record(command: LifecycleCommand, outcome: Outcome, result: dict[str, Any]) -> CommandRecord:
    return CommandRecord(command.command_id, command.issue_id, command.action.value, outcome.value, result)


def _rejection_json(rejection: Rejection) -> dict[str, Any]:
    return {
        "rejection": {
            "status": rejection.status.value,
            "reason": rejection.reason.value,
            "message": rejection.message,
            "stops_response": rejection.stops_response,
        }
    }


def _replay(command: LifecycleCommand, stored: CommandRecord) -> CommandResult:
    if stored.issue_id != command.issue_id or stored.action != command.action.value:
        return CommandResult(command, Outcome.KEY_REUSED, replayed=True)
    if "event" in stored.result:
        event = LifecycleEvent.model_validate(stored.result["event"])
        return CommandResult(command, Outcome.APPLIED, event=event, replayed=True)
    fields = stored.result["rejection"]
    rejection = Rejection(
        command_id=command.command_id,
        issue_id=command.issue_id,
        action=command.action,
        status=IssueStatus(fields["status"]),
        reason=RejectionReason(fields["reason"]),
        message=fields["message"],
        stops_response=fields.get("stops_response", False),
    )
    return CommandResult(command, Outcome.REJECTED, rejection=rejection, replayed=True)


def _event_audit(event: LifecycleEvent, before: SlaTimeline) -> AuditEntry:
    detail: dict[str, Any] = {
        "via": event.via.value,
        "from_status": event.from_status.value,
        "to_status": event.to_status.value,
        "command_id": event.command_id,
        "cycle": before.cycle,
    }
    for name in ("team", "snooze_until", "comment"):
        value = getattr(event, name)
        if value is not None:
            detail[name] = value.isoformat() if isinstance(value, datetime) else value
    return AuditEntry(
        dedup_key=f"lifecycle:{event.event_id}",
        issue_id=event.issue_id,
        at=event.at,
        action=event.action.value,
        actor=event.actor,
        event_id=event.event_id,
        detail=detail,
    )


def _response_stopped_audit(
    command: LifecycleCommand, rejection: Rejection, issue: SlaIssue, at: datetime
) -> AuditEntry:
    return AuditEntry(
        dedup_key=f"sla.response_stopped:{command.command_id}",
        issue_id=issue.issue_id,
        at=at,
        action="sla.response_stopped",
        actor=command.actor,
        detail={
            "via": command.via.value,
            "command_id": command.command_id,
            "status": rejection.status.value,
            "reason": rejection.reason.value,
            "cycle": issue.timeline.cycle,
        },
    )


def _triage_audit(triaged: TriagedIssue, action: str, timeline: SlaTimeline) -> AuditEntry:
    return AuditEntry(
        dedup_key=f"{action}:{triaged.decision_id}",
        issue_id=triaged.issue_id,
        at=triaged.decided_at,
        action=action,
        actor=TRIAGE_ACTOR,
        event_id=triaged.decision_id,
        detail={
            "decision": triaged.decision.value,
            "severity": timeline.severity.value,
            "route": timeline.route,
            "cycle": timeline.cycle,
            "opened_at": timeline.opened_at.isoformat(),
            "via": Via.TRIAGE.value,
        },
    )


def rejection_status(rejection: Rejection) -> int:
    """The HTTP status of a rejection: 422 for a snooze in the past, 409 otherwise."""
    return 422 if rejection.reason is RejectionReason.SNOOZE_IN_PAST else 409
