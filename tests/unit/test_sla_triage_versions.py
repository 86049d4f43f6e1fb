"""Which triage decisions the SLA service applies (hypercare_sla.triaged.arrival): newer versions whole, the
last one again not at all, and of an older one only what its source did (source_commands)."""

import pytest
from hypercare_contracts.lifecycle import LifecycleAction, Via
from hypercare_contracts.normalized import ReportAction
from hypercare_contracts.triaged import Decision, IssueStatus
from hypercare_sla.triaged import Arrival, arrival, implied_commands, source_commands

from tests.factories.sla import make_triaged

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("version", "applied", "expected"),
    [
        (1, None, Arrival.NEW),  # an issue not seen yet, or stored before versions were recorded
        (5, None, Arrival.NEW),
        (2, 1, Arrival.NEW),  # the next decision
        (9, 2, Arrival.NEW),  # versions skip the changes triage published no decision for
        (2, 2, Arrival.AGAIN),  # the same decision again: a redelivery or a replay
        (1, 2, Arrival.OVERTAKEN),  # an older one: a replay, or one published after a later decision
    ],
)
def test_a_decision_is_news_only_above_the_last_applied_version(
    version: int, applied: int | None, expected: Arrival
) -> None:
    decision = make_triaged(issue_id="iss_1", decision_id=f"iss_1:{version}", version=version)
    assert arrival(decision, applied) is expected


def test_the_arrivals_are_counted_under_the_outcomes_of_the_decisions_counter() -> None:
    assert [a.value for a in Arrival] == ["applied", "superseded", "overtaken"]


@pytest.mark.parametrize(
    ("source_action", "action"),
    [
        (ReportAction.ACKNOWLEDGE, LifecycleAction.ACKNOWLEDGE),
        (ReportAction.RESOLVE, LifecycleAction.RESOLVE),
        (ReportAction.PENDING, LifecycleAction.PAUSE),
        (ReportAction.RESUMED, LifecycleAction.RESUME),
    ],
)
def test_of_an_overtaken_decision_only_what_its_source_did_remains_dated_when_it_was_decided(
    source_action: ReportAction, action: LifecycleAction
) -> None:
    decision = make_triaged(issue_id="iss_1", decision_id="iss_1:5", version=5, source_action=source_action)

    [command] = source_commands(decision)

    assert (command.action, command.via, command.actor) == (action, Via.SOURCE, "source")
    assert (command.command_id, command.at) == (f"triage:iss_1:5:{action.value}", decision.decided_at)
    assert command in implied_commands(decision)  # the same id as when applied in order: applied once


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (Decision.REOPENED, IssueStatus.OPEN),
        (Decision.RESOLVED, IssueStatus.RESOLVED),
        (Decision.RAISED, IssueStatus.OPEN),
        (Decision.UPDATED, IssueStatus.ACKNOWLEDGED),
    ],
)
def test_triage_s_own_reopen_and_resolve_are_not_source_commands(
    decision: Decision, status: IssueStatus
) -> None:
    overtaken = make_triaged(decision=decision, status=status, version=3)

    assert source_commands(overtaken) == []
