"""The engine: decisions, notify, source actions, flapping, batches, determinism, serialization."""

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
from hypercare_contracts import (
    Decision,
    IssueStatus,
    MergeRule,
    NormalizedReport,
    ReportAction,
    Severity,
    Source,
)
from hypercare_domain.triage import (
    InMemoryIssues,
    IssueState,
    Step,
    TriagePolicies,
    decide,
    release_expired,
    triage_batch,
    written_breakdown,
)
from hypercare_domain.triage import batch as batch_module

from tests.unit.triage_factories import T0, at, make_alert, make_report, run, shipped_policies

pytestmark = pytest.mark.unit


def test_flapping_alert_is_one_issue_and_pages_once() -> None:
    reports = []
    for cycle in range(6):
        reports.append(make_alert(source_ref="alertmanager:flap", minutes=cycle * 5))
        reports.append(
            make_alert(source_ref="alertmanager:flap", action=ReportAction.RESOLVE, minutes=cycle * 5 + 2)
        )

    decisions, store = run(reports)

    (issue,) = store.all()
    assert issue.flap_count == 5
    assert issue.reopen_count == 5
    assert issue.occurrences == 6
    assert issue.status is IssueStatus.RESOLVED
    kinds = [d.decision for d in decisions]
    assert kinds == [Decision.CREATED, Decision.RESOLVED] + [Decision.REOPENED, Decision.RESOLVED] * 5
    pages = [d for d in decisions if d.notify and d.decision is not Decision.RESOLVED]
    assert [d.decision for d in pages] == [Decision.CREATED]
    assert [d.notify for d in decisions if d.decision is Decision.RESOLVED] == [True] + [False] * 5
    assert [d.flap_count for d in decisions if d.decision is Decision.REOPENED] == [1, 2, 3, 4, 5]


def test_reopened_ticket_notifies_again() -> None:
    ticket = make_report(source_ref="zendesk:77")
    solved = make_report(source_ref="zendesk:77", action=ReportAction.RESOLVE, minutes=10)
    again = make_report(source_ref="zendesk:77", action=ReportAction.UPDATE, minutes=20)

    decisions, _ = run([ticket, solved, again])

    assert [(d.decision, d.notify) for d in decisions] == [
        (Decision.CREATED, True),
        (Decision.RESOLVED, True),
        (Decision.REOPENED, True),
    ]


def test_alert_resend_is_not_a_new_occurrence() -> None:
    reports = [make_alert(source_ref="alertmanager:same", minutes=m) for m in (0, 5, 10)]

    decisions, store = run(reports)

    (issue,) = store.all()
    assert issue.occurrences == 1
    assert [d.decision for d in decisions] == [Decision.CREATED]


def test_issue_resolves_only_when_its_last_source_item_resolves() -> None:
    a = make_report(source_ref="zendesk:1", fingerprint="checkout:fail")
    b = make_report(source_ref="zendesk:2", fingerprint="checkout:fail", minutes=1)
    solve_a = make_report(source_ref="zendesk:1", action=ReportAction.RESOLVE, minutes=5)
    solve_b = make_report(source_ref="zendesk:2", action=ReportAction.RESOLVE, minutes=6)

    _decisions, store = run([a, b, solve_a])
    still_open = store.all()[0]
    more, store = run([solve_b], store=store)

    assert still_open.status is IssueStatus.OPEN
    assert still_open.open_refs == ("zendesk:2",)
    assert [d.decision for d in more] == [Decision.RESOLVED]
    assert store.all()[0].resolved_at == at(6)


def _mixed_issue(*sources: str) -> list[NormalizedReport]:
    makers = {
        "alert": lambda m: make_alert(
            source_ref="alertmanager:mixed", fingerprint="checkout:mixed", minutes=m
        ),
        "ticket": lambda m: make_report(source_ref="zendesk:mixed", fingerprint="checkout:mixed", minutes=m),
        "feedback": lambda m: make_report(
            source_ref="feedback:fb-9", fingerprint="checkout:mixed", minutes=m
        ),
        "post": lambda m: make_report(
            source=Source.SOCIAL, source_ref="social:x:77", fingerprint="checkout:mixed", minutes=m
        ),
    }
    return [makers[source](minute) for minute, source in enumerate(sources)]


def _resolve(kind: str, minute: int) -> NormalizedReport:
    if kind == "alert":
        return make_alert(
            source_ref="alertmanager:mixed",
            fingerprint="checkout:mixed",
            action=ReportAction.RESOLVE,
            minutes=minute,
        )
    return make_report(
        source_ref="zendesk:mixed", fingerprint="checkout:mixed", action=ReportAction.RESOLVE, minutes=minute
    )


@pytest.mark.parametrize(
    ("sources", "resolved", "status"),
    [
        (("alert", "feedback", "post", "ticket"), "alert", IssueStatus.RESOLVED),
        (("ticket", "feedback", "post"), "ticket", IssueStatus.RESOLVED),
        (("alert", "ticket", "feedback"), "ticket", IssueStatus.OPEN),
    ],
    ids=["alert-all-clear-resolves", "last-ticket-solved-resolves", "ticket-solved-while-alert-fires"],
)
def test_which_active_items_hold_an_issue_open(
    sources: tuple[str, ...], resolved: str, status: IssueStatus
) -> None:
    decisions, store = run([*_mixed_issue(*sources), _resolve(resolved, len(sources))])

    (issue,) = store.all()
    assert issue.status is status
    assert (decisions[-1].decision is Decision.RESOLVED) is (status is IssueStatus.RESOLVED)


@pytest.mark.parametrize(
    ("action", "status", "paused"),
    [
        (ReportAction.ACKNOWLEDGE, IssueStatus.ACKNOWLEDGED, False),
        (ReportAction.PENDING, IssueStatus.OPEN, True),
    ],
)
def test_source_actions_update_state_quietly(action: ReportAction, status: IssueStatus, paused: bool) -> None:
    alert = make_alert(source_ref="pagerduty:k1")
    change = make_alert(source_ref="pagerduty:k1", action=action, minutes=2)

    decisions, store = run([alert, change])

    issue = store.all()[0]
    assert (issue.status, issue.paused) == (status, paused)
    assert decisions[-1].decision is Decision.UPDATED
    assert decisions[-1].notify is False
    assert decisions[-1].status is status


def test_resumed_clears_the_pause() -> None:
    ticket = make_report(source_ref="zendesk:5")
    pending = make_report(source_ref="zendesk:5", action=ReportAction.PENDING, minutes=1)
    resumed = make_report(source_ref="zendesk:5", action=ReportAction.RESUMED, minutes=2)

    _, store = run([ticket, pending, resumed])

    assert store.all()[0].paused is False


@pytest.mark.parametrize("action", [ReportAction.RESOLVE, ReportAction.ACKNOWLEDGE])
def test_source_action_for_unknown_item_is_ignored_and_audited(action: ReportAction) -> None:
    report = make_alert(source_ref="alertmanager:never-seen", fingerprint="Nope:x:production", action=action)

    result = triage_batch([report], InMemoryIssues(), shipped_policies(), T0)

    assert result.decisions == []
    assert result.states_changed == {}
    assert result.report_links == []
    assert [(entry.action, entry.detail["reason"]) for entry in result.audit] == [
        ("report.ignored", "no issue for this source item")
    ]


def test_updates_are_published_on_milestones_and_new_reporters() -> None:
    same_person = [
        make_report(reporter={"id": "cust-same"}, fingerprint="checkout:x", minutes=m) for m in range(6)
    ]

    decisions, _ = run(same_person)

    assert [(d.decision, d.occurrences) for d in decisions] == [
        (Decision.CREATED, 1),
        (Decision.UPDATED, 2),
        (Decision.UPDATED, 5),
    ]
    assert all(d.notify is False for d in decisions[1:])


def _with_updates(**settings: object) -> TriagePolicies:
    base = shipped_policies()
    updates = base.triage.updates.model_copy(update=settings)
    return replace(base, triage=base.triage.model_copy(update={"updates": updates}))


def test_new_reporters_trigger_updates_on_milestones_only() -> None:
    people = [make_report(fingerprint="checkout:y", minutes=m) for m in range(8)]

    decisions, _ = run(people, _with_updates(impact_delta=1000))

    assert [(d.decision, d.distinct_reporters) for d in decisions] == [
        (Decision.CREATED, 1),
        (Decision.UPDATED, 2),
        (Decision.UPDATED, 5),
    ]


def test_every_new_reporter_can_be_asked_for() -> None:
    people = [make_report(fingerprint="checkout:z", minutes=m) for m in range(4)]

    decisions, _ = run(people, _with_updates(impact_delta=1000, every_new_reporter=True))

    assert [(d.decision, d.distinct_reporters) for d in decisions] == [
        (Decision.CREATED, 1),
        (Decision.UPDATED, 2),
        (Decision.UPDATED, 3),
        (Decision.UPDATED, 4),
    ]


def test_decision_carries_identity_and_context() -> None:
    report = make_report(fingerprint="checkout:ctx", source_ref="zendesk:4711")

    (decision,), store = run([report])

    expected_id = "iss_" + hashlib.sha256(f"checkout:ctx\n{report.event_id}".encode()).hexdigest()[:20]
    assert decision.issue_id == expected_id
    assert decision.decision_id == f"{expected_id}:1"
    assert decision.event_id == report.event_id
    assert decision.trace_id == report.trace_id
    assert decision.merged_by is MergeRule.NEW
    assert decision.route.name == "payments-urgent"
    assert decision.samples[0].event_id == report.event_id
    assert decision.breakdown
    assert store.all()[0].source_refs == ("zendesk:4711",)


def test_decision_ids_are_unique_across_an_issue_life() -> None:
    reports = [make_alert(source_ref="alertmanager:ids", minutes=0)]
    reports += [make_alert(source_ref="alertmanager:ids", action=ReportAction.RESOLVE, minutes=1)]
    reports += [make_alert(source_ref="alertmanager:ids", minutes=2)]

    decisions, _ = run(reports)

    ids = [d.decision_id for d in decisions]
    assert len(ids) == len(set(ids)) == 3


def test_batch_applies_reports_in_order() -> None:
    reports = [make_report(fingerprint="checkout:batch", minutes=m * 0.5) for m in range(12)]

    result = triage_batch(reports, InMemoryIssues(), shipped_policies(), at(10))

    assert len(result.states_changed) == 1
    (issue,) = result.states_changed.values()
    assert issue.occurrences == 12
    assert [link.rule for link in result.report_links] == [MergeRule.NEW] + [MergeRule.FINGERPRINT] * 11
    assert {link.issue_id for link in result.report_links} == {issue.issue_id}
    assert result.decisions[0].decision is Decision.CREATED
    assert any(d.decision is Decision.RAISED and d.severity is Severity.CRITICAL for d in result.decisions)
    assert all(d.decided_at == at(10) for d in result.decisions)


def test_batch_skips_nothing_not_even_a_duplicate() -> None:
    report = make_report(fingerprint="checkout:dup")

    result = triage_batch([report, report], InMemoryIssues(), shipped_policies(), T0)

    assert [link.event_id for link in result.report_links] == [report.event_id] * 2
    assert [link.rule for link in result.report_links] == [MergeRule.NEW, MergeRule.SOURCE_ITEM]
    assert result.states_changed[result.report_links[0].issue_id].occurrences == 1


def test_a_report_the_engine_raises_on_is_left_out_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reports = [make_report(fingerprint="checkout:defect", minutes=m) for m in range(5)]
    bad = reports[2]

    def failing_on_bad(report: NormalizedReport, *args: Any, **kwargs: Any) -> Step:
        if report.event_id == bad.event_id:
            raise ZeroDivisionError("a defect")
        return decide(report, *args, **kwargs)

    monkeypatch.setattr(batch_module, "decide", failing_on_bad)
    result = triage_batch(reports, InMemoryIssues(), shipped_policies(), at(10))
    monkeypatch.undo()
    without = triage_batch([r for r in reports if r is not bad], InMemoryIssues(), shipped_policies(), at(10))

    assert [(f.report.event_id, type(f.error)) for f in result.failed] == [(bad.event_id, ZeroDivisionError)]
    assert result.report_links == without.report_links
    assert result.audit == without.audit
    assert [d.model_dump(mode="json") for d in result.decisions] == [
        d.model_dump(mode="json") for d in without.decisions
    ]
    assert {k: v.to_json() for k, v in result.states_changed.items()} == {
        k: v.to_json() for k, v in without.states_changed.items()
    }


def test_same_input_twice_gives_identical_output() -> None:
    reports = [make_report(fingerprint="det", minutes=m, title=f"Checkout fails ({m})") for m in range(4)]
    reports += [make_alert(minutes=5), make_alert(action=ReportAction.RESOLVE, minutes=7)]
    reports += [make_report(title="Typo on the checkout button", fingerprint="det:typo", minutes=8)]

    first = triage_batch(reports, InMemoryIssues(), shipped_policies(), at(60))
    second = triage_batch(reports, InMemoryIssues(), shipped_policies(), at(60))

    assert [d.model_dump(mode="json") for d in first.decisions] == [
        d.model_dump(mode="json") for d in second.decisions
    ]
    assert {k: v.to_json() for k, v in first.states_changed.items()} == {
        k: v.to_json() for k, v in second.states_changed.items()
    }
    assert first.report_links == second.report_links
    assert first.audit == second.audit


def test_state_round_trips_through_json() -> None:
    reports = [make_report(fingerprint="rt", minutes=m, signals={"rating": 2}) for m in range(3)]
    _, store = run(reports)
    (issue,) = store.all()

    loaded = IssueState.from_json(json.loads(json.dumps(issue.to_json())))

    assert loaded == issue


def test_decide_infers_the_rule_and_uses_report_time_for_windows() -> None:
    first = decide(make_report(fingerprint="d"), None, shipped_policies(), T0)
    assert first.state is not None
    second = decide(make_report(fingerprint="d", minutes=3), first.state, shipped_policies(), at(500))

    assert second.rule is MergeRule.FINGERPRINT
    assert second.state is not None
    assert second.state.last_seen == at(3)
    assert second.state.version == 2


def test_batch_breakdowns_are_those_of_deciding_report_by_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # triage_batch writes out an issue's breakdown only for a decision; deciding with every breakdown
    # written out must give the same decisions, and the same states once theirs are written out.
    reports = [
        make_report(fingerprint="lazy", minutes=m * 0.5, title=f"Checkout fails ({m})", signals={"rating": 1})
        for m in range(7)
    ]
    reports += [make_report(fingerprint="lazy", minutes=4, reporter={"tier": "enterprise"})]
    reports += [make_alert(minutes=5), make_alert(minutes=6), make_alert(minutes=6.5)]
    reports += [make_alert(action=ReportAction.ACKNOWLEDGE, minutes=7)]
    reports += [
        make_alert(action=ReportAction.RESOLVE, minutes=8),
        make_report(fingerprint="lazy", minutes=9),
    ]
    policies = shipped_policies()

    lazy = triage_batch(reports, InMemoryIssues(), policies, at(60))
    monkeypatch.setattr(
        batch_module, "decide", lambda *args, **kwargs: decide(*args, **{**kwargs, "explain": True})
    )
    eager = triage_batch(reports, InMemoryIssues(), policies, at(60))

    assert any(d.decision is Decision.UPDATED and d.event_id == reports[11].event_id for d in lazy.decisions)
    assert [d.model_dump(mode="json") for d in lazy.decisions] == [
        d.model_dump(mode="json") for d in eager.decisions
    ]
    assert {
        k: v.model_copy(update={"breakdown": written_breakdown(v, policies)}).to_json()
        for k, v in lazy.states_changed.items()
    } == {k: v.to_json() for k, v in eager.states_changed.items()}
    assert not all(state.breakdown for state in lazy.states_changed.values()), "some were left unwritten"
    assert all(state.breakdown for state in eager.states_changed.values())
    assert lazy.audit == eager.audit


def _without_breakdowns(monkeypatch: pytest.MonkeyPatch, eager: bool) -> None:
    explain = eager
    monkeypatch.setattr(
        batch_module, "decide", lambda *args, **kwargs: decide(*args, **{**kwargs, "explain": explain})
    )


@pytest.mark.parametrize("eager", [False, True])
def test_a_decision_on_a_state_stored_without_its_breakdown_carries_the_breakdown_it_would_have(
    monkeypatch: pytest.MonkeyPatch, eager: bool
) -> None:
    # A batch stores states whose breakdown was not written out (no decision since their last
    # assessment); a later batch's source action (acknowledge, resolve) and the release timer publish
    # such a state without assessing it again. Each decision must carry what writing every breakdown
    # out at once would have given.
    _without_breakdowns(monkeypatch, eager)
    policies = shipped_policies()
    store = InMemoryIssues()
    first = [make_alert(minutes=m) for m in (0, 1, 2, 3)]
    store.apply(triage_batch(first, store, policies, at(4)), first)
    (stored,) = store.all()
    assert bool(stored.breakdown) is eager
    acknowledged = triage_batch(
        [make_alert(action=ReportAction.ACKNOWLEDGE, minutes=5)], store, policies, at(5)
    )
    (decision,) = acknowledged.decisions
    store.apply(acknowledged)
    resolved = triage_batch([make_alert(action=ReportAction.RESOLVE, minutes=6)], store, policies, at(6))
    (resolution,) = resolved.decisions

    assert decision.decision is Decision.UPDATED
    assert resolution.decision is Decision.RESOLVED
    assert tuple(decision.breakdown) == written_breakdown(stored, policies) == tuple(resolution.breakdown)
    assert decision.breakdown
    assert decision.severity is stored.severity


def test_a_release_publishes_the_breakdown_of_the_state_it_releases() -> None:
    policies = shipped_policies()
    same = {"fingerprint": "rel", "source_ref": "zendesk:rel", "reporter": {"id": "cust-rel"}}
    first = decide(make_report(**same), None, policies, T0)
    assert first.state is not None
    again = make_report(**same, minutes=1)  # a second message on the ticket: nothing to publish
    later = decide(again, first.state, policies, at(1), explain=False)
    assert later.state is not None
    assert later.decision is None
    suppressed = later.state.model_copy(update={"suppressed_by": "launch-window", "opened": True})
    assert suppressed.breakdown == ()

    (step,) = release_expired([suppressed], policies, at(2))

    assert step.decision is not None
    assert step.decision.decision is Decision.RELEASED
    eager = decide(again, first.state, policies, at(1))
    assert eager.state is not None
    assert eager.state.breakdown
    assert tuple(step.decision.breakdown) == eager.state.breakdown
    assert step.state is not None
    assert step.state.breakdown == eager.state.breakdown


def test_decide_can_leave_the_breakdown_to_write_out_later() -> None:
    policies = shipped_policies()
    same = {"fingerprint": "later", "source_ref": "zendesk:later", "reporter": {"id": "cust-later"}}
    state = decide(make_report(**same), None, policies, T0).state
    report = make_report(**same, minutes=1)  # a second message on the ticket: nothing to publish

    step = decide(report, state, policies, at(1), explain=False)
    eager = decide(report, state, policies, at(1))

    assert step.decision is None
    assert step.state is not None
    assert step.state.breakdown == ()
    assert eager.state is not None
    assert eager.state.breakdown
    assert written_breakdown(step.state, policies) == eager.state.breakdown
    assert step.state.model_copy(update={"breakdown": eager.state.breakdown}) == eager.state
