"""What a demo run amounts to: what was sent, and what the pipeline made of it, read back from Kafka."""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypercare_contracts import (
    DeadLetter,
    Decision,
    DeliveryOutcome,
    NotificationRecord,
    Severity,
    SlaEvent,
    SlaEventKind,
    Source,
    TriagedIssue,
)

from hypercare_cli.scenario.model import Message

_SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
ISSUE_LINES = 10
"""How many issues the text summary lists by name (most severe first)."""


@dataclass(frozen=True)
class Readback:
    """The output-topic records of one run, parsed; records that did not parse are counted per topic."""

    triaged: Sequence[TriagedIssue] = ()
    sla_events: Sequence[SlaEvent] = ()
    notifications: Sequence[NotificationRecord] = ()
    dead_letters: Sequence[DeadLetter] = ()
    unreadable: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IssueLine:
    """One issue as its last decision left it."""

    issue_id: str
    title: str
    severity: str
    status: str
    component: str
    route: str
    occurrences: int


@dataclass(frozen=True)
class Summary:
    """Every count the demo prints, in a shape that serializes to JSON as it is."""

    run_id: str
    seed: int
    sent_by_source: dict[str, int]
    sent_total: int
    deliberately_bad: int
    gateway_rejections: dict[str, int]
    decisions_by_kind: dict[str, int]
    issues_by_severity: dict[str, int]
    issues_by_status: dict[str, int]
    issues: list[IssueLine]
    notifications_by_outcome: dict[str, int]
    notifications_by_channel: dict[str, int]
    sla_events_by_kind: dict[str, int]
    dead_letters_by_reason: dict[str, int]
    unreadable: dict[str, int]
    drained: bool
    waited_seconds: float


def _ordered(counts: Counter[str], order: Iterable[str] = ()) -> dict[str, int]:
    """Counts in a stable order: the given order first, then the rest alphabetically; zeros dropped."""
    known = [key for key in order if counts[key]]
    rest = sorted(key for key in counts if key not in set(known) and counts[key])
    return {key: counts[key] for key in [*known, *rest]}


def latest_decisions(decisions: Iterable[TriagedIssue]) -> list[TriagedIssue]:
    """The last decision of every issue (highest version, then latest decision time), most severe first."""
    latest: dict[str, TriagedIssue] = {}
    for decision in decisions:
        seen = latest.get(decision.issue_id)
        if seen is None or (decision.version, decision.decided_at) > (seen.version, seen.decided_at):
            latest[decision.issue_id] = decision
    return sorted(latest.values(), key=lambda d: (-d.severity.rank, -d.occurrences, d.issue_id))


def summarize(
    *,
    run_id: str,
    seed: int,
    sent: Sequence[Message],
    readback: Readback,
    gateway_rejections: Mapping[str, int] | None = None,
    drained: bool,
    waited_seconds: float,
) -> Summary:
    """Count what was sent and what came back.

    Args:
        run_id: the run's id.
        seed: the scenario seed.
        sent: the messages that were sent (whether or not a gateway accepted them).
        readback: the records the pipeline wrote during the run.
        gateway_rejections: HTTP status (as text) -> count, when posting through the gateway.
        drained: whether the pipeline went quiet before the deadline.
        waited_seconds: how long the wait for the pipeline took.
    """
    last = latest_decisions(readback.triaged)
    return Summary(
        run_id=run_id,
        seed=seed,
        sent_by_source=_ordered(Counter(m.source.value for m in sent), [s.value for s in Source]),
        sent_total=len(sent),
        deliberately_bad=sum(1 for m in sent if m.deliberately_bad),
        gateway_rejections=_ordered(Counter(dict(gateway_rejections or {}))),
        decisions_by_kind=_ordered(
            Counter(d.decision.value for d in readback.triaged), [d.value for d in Decision]
        ),
        issues_by_severity=_ordered(Counter(d.severity.value for d in last), _SEVERITIES),
        issues_by_status=_ordered(Counter(d.status.value for d in last)),
        issues=[
            IssueLine(
                issue_id=d.issue_id,
                title=d.title,
                severity=d.severity.value,
                status=d.status.value,
                component=d.component,
                route=d.route.name,
                occurrences=d.occurrences,
            )
            for d in last
        ],
        notifications_by_outcome=_ordered(
            Counter(n.outcome.value for n in readback.notifications), [o.value for o in DeliveryOutcome]
        ),
        notifications_by_channel=_ordered(Counter(n.channel for n in readback.notifications)),
        sla_events_by_kind=_ordered(
            Counter(e.kind.value for e in readback.sla_events), [k.value for k in SlaEventKind]
        ),
        dead_letters_by_reason=_ordered(Counter(d.error_class.value for d in readback.dead_letters)),
        unreadable=_ordered(Counter(dict(readback.unreadable))),
        drained=drained,
        waited_seconds=round(waited_seconds, 1),
    )


def summary_json(summary: Summary, metrics: Mapping[str, str]) -> dict[str, Any]:
    """The summary as a JSON-ready dict, with the metrics URLs under ``metrics``."""
    data: dict[str, Any] = {key: value for key, value in vars(summary).items() if key != "issues"}
    data["issues"] = [vars(line) for line in summary.issues]
    data["metrics"] = dict(metrics)
    return data


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) if counts else "none"


def render_text(summary: Summary, metrics: Mapping[str, str], *, dashboards: Sequence[str] = ()) -> str:
    """The summary as the lines printed at the end of a demo."""
    issues = sum(summary.issues_by_severity.values())
    lines = [
        f"== Hypercare demo summary (run {summary.run_id}, seed {summary.seed}) ==",
        f"reports sent        {summary.sent_total}: {_counts(summary.sent_by_source)}"
        f" ({summary.deliberately_bad} deliberately bad)",
    ]
    if summary.gateway_rejections:
        lines.append(f"gateway rejected    {_counts(summary.gateway_rejections)}")
    lines += [
        f"triage decisions    {sum(summary.decisions_by_kind.values())}: {_counts(summary.decisions_by_kind)}",
        f"issues              {issues}: {_counts(summary.issues_by_severity)}"
        + (f" | {_counts(summary.issues_by_status)}" if issues else ""),
    ]
    lines += [
        f"  [{line.severity:<8}] {line.status:<12} {line.component:<10} {line.title[:60]}"
        f" ({line.occurrences} reports, route {line.route})"
        for line in summary.issues[:ISSUE_LINES]
    ]
    if len(summary.issues) > ISSUE_LINES:
        lines.append(f"  ... and {len(summary.issues) - ISSUE_LINES} more")
    lines += [
        f"notifications       {sum(summary.notifications_by_outcome.values())}: "
        f"{_counts(summary.notifications_by_outcome)} | by channel: {_counts(summary.notifications_by_channel)}",
        f"SLA events          {sum(summary.sla_events_by_kind.values())}: {_counts(summary.sla_events_by_kind)}",
        f"dead letters        {sum(summary.dead_letters_by_reason.values())}: "
        f"{_counts(summary.dead_letters_by_reason)}",
    ]
    if summary.unreadable:
        lines.append(f"unreadable records  {_counts(summary.unreadable)} (not in the contract's shape)")
    state = "drained" if summary.drained else "NOT drained (counts so far)"
    lines.append(f"pipeline            {state} after waiting {summary.waited_seconds:.1f}s")
    if metrics:
        lines.append("metrics:")
        lines += [f"  {name:<11} {url}" for name, url in metrics.items()]
    if dashboards:
        lines.append("dashboards and scrape config: " + ", ".join(dashboards))
    return "\n".join(lines)
