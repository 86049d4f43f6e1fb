"""A milestone: one SLA or escalation instant due for an issue, keyed for exactly-once emission."""

from dataclasses import dataclass
from datetime import datetime

from hypercare_contracts.sla import SlaEventKind, SlaTarget


@dataclass(frozen=True)
class Milestone:
    """An instant at which an :class:`~hypercare_contracts.sla.SlaEvent` falls due.

    ``key`` is stable across re-plans of the same cycle (``{issue}:{cycle}:response:breached``,
    ``{issue}:{cycle}:escalation:{step}``, ``{issue}:{cycle}:renotify:{n}``): persist it unique and emit
    each once.
    """

    kind: SlaEventKind
    target: SlaTarget | None
    due_at: datetime
    key: str
    policy: str
    escalation_step: int | None = None
    notify: str | None = None


def milestone_key(issue_id: str, cycle: int, *parts: str | int) -> str:
    """The stable key of a milestone: issue, cycle and what it is, joined by colons."""
    return ":".join((issue_id, str(cycle), *(str(part) for part in parts)))
