"""Grouping: source item, fingerprint, similarity, reopen window, absorb cap, open-after-N."""

from typing import Any

import pytest
from hypercare_contracts import Decision, MergeRule, NormalizedReport, ReportAction
from hypercare_domain.triage import IssueState, match

from tests.unit.triage_factories import make_alert, make_report, run, shipped_policies

pytestmark = pytest.mark.unit


def _issue(report: NormalizedReport) -> IssueState:
    _, store = run([report])
    (issue,) = store.all()
    return issue


def _match(issue: IssueState, **overrides: Any) -> tuple[str | None, MergeRule]:
    report = make_report(**overrides)
    found = match(report, [issue], shipped_policies(), report.received_at)
    return found.issue_id, found.rule


@pytest.mark.parametrize(
    ("first", "second", "rule"),
    [
        pytest.param(
            {"source_ref": "zendesk:4711", "fingerprint": "checkout:fail"},
            {
                "source_ref": "zendesk:4711",
                "fingerprint": "checkout:other",
                "action": ReportAction.UPDATE,
                "title": "Customer added a screenshot",
                "minutes": 10,
            },
            MergeRule.SOURCE_ITEM,
            id="zendesk-update-of-same-ticket",
        ),
        pytest.param(
            {"source_ref": "alertmanager:4f2a9c", "fingerprint": "HighErrorRate:checkout:production"},
            {
                "source_ref": "alertmanager:4f2a9c",
                "fingerprint": "HighErrorRate:checkout:production",
                "minutes": 5,
            },
            MergeRule.SOURCE_ITEM,
            id="alertmanager-resend",
        ),
        pytest.param(
            {"source_ref": "pagerduty:srv1", "references": {"dedup_key": "checkout-5xx"}, "fingerprint": "a"},
            {
                "source_ref": "pagerduty:srv2",
                "references": {"dedup_key": "checkout-5xx"},
                "fingerprint": "b",
                "title": "Different summary",
                "minutes": 3,
            },
            MergeRule.SOURCE_ITEM,
            id="pagerduty-dedup-key",
        ),
        pytest.param(
            {"fingerprint": "checkout:fail"},
            {"fingerprint": "checkout:fail", "title": "Something else entirely", "minutes": 30},
            MergeRule.FINGERPRINT,
            id="same-fingerprint",
        ),
        pytest.param(
            {"title": "Checkout fails with error 500", "fingerprint": "sig-1"},
            {"title": "Chekout is broken, cant pay", "fingerprint": "sig-2", "minutes": 8},
            MergeRule.SIMILARITY,
            id="typos",
        ),
        pytest.param(
            {"title": "Payment failed at checkout", "fingerprint": "sig-1"},
            {"title": "I can't pay at the checkout", "fingerprint": "sig-2", "minutes": 8},
            MergeRule.SIMILARITY,
            id="paraphrase",
        ),
        pytest.param(
            {"title": "Payment failed at checkout", "fingerprint": "sig-1"},
            {
                "title": "Kasse funktioniert nicht, kann nicht bezahlen",
                "fingerprint": "sig-de",
                "minutes": 8,
                "language": "de",
            },
            MergeRule.SIMILARITY,
            id="german-paraphrase",
        ),
        pytest.param(
            {"title": "Payment failed at checkout", "fingerprint": "sig-1"},
            {"title": "El pago no funciona en la caja", "fingerprint": "sig-es", "minutes": 8},
            MergeRule.SIMILARITY,
            id="spanish-paraphrase",
        ),
        pytest.param(
            {"title": "Checkout fails with error 500", "fingerprint": "sig-1"},
            {
                "title": "Checkout fails with error 500",
                "fingerprint": "sig-2",
                "component": "login",
                "minutes": 8,
            },
            MergeRule.NEW,
            id="different-component-not-merged",
        ),
        pytest.param(
            {"title": "Checkout fails with error 500", "fingerprint": "sig-1"},
            {
                "title": "Checkout fails with error 500",
                "fingerprint": "sig-2",
                "environment": "staging",
                "minutes": 8,
            },
            MergeRule.NEW,
            id="different-environment-not-merged",
        ),
        pytest.param(
            {"title": "Checkout fails with error 500", "fingerprint": "sig-1"},
            {"title": "Typo on the checkout button", "fingerprint": "sig-typo", "minutes": 8},
            MergeRule.NEW,
            id="different-problem-same-component",
        ),
        pytest.param(
            {"title": "Checkout fails with error 500", "fingerprint": "sig-1"},
            {"title": "Checkout fails with error 500", "fingerprint": "sig-2", "minutes": 25 * 60},
            MergeRule.NEW,
            id="similar-but-outside-the-absorb-cap",
        ),
    ],
)
def test_match_rules(first: dict[str, Any], second: dict[str, Any], rule: MergeRule) -> None:
    issue = _issue(make_report(**first))

    issue_id, found = _match(issue, **second)

    assert found is rule
    assert issue_id == (None if rule is MergeRule.NEW else issue.issue_id)


@pytest.mark.parametrize(
    "references",
    [
        {"alertname": "HighErrorRate", "group_key": '{}:{alertname="HighErrorRate"}'},
        {"account_id": "90210"},
        {"session_id": "s-1", "client": "web"},
    ],
)
def test_shared_non_identifying_references_do_not_merge(references: dict[str, str]) -> None:
    issue = _issue(make_report(references=references, fingerprint="checkout:fail"))

    issue_id, found = _match(
        issue,
        references=references,
        component="search",
        fingerprint="search:slow",
        title="Search is slow",
        minutes=1,
    )

    assert (issue_id, found) == (None, MergeRule.NEW)


def test_similarity_reports_its_score() -> None:
    issue = _issue(make_report(title="Payment failed at checkout", fingerprint="sig-1"))
    report = make_report(title="I can't pay at the checkout", fingerprint="sig-2", minutes=1)

    found = match(report, [issue], shipped_policies(), report.received_at)

    assert found.score is not None
    assert found.score >= shipped_policies().triage.grouping.similarity_threshold


def test_source_item_matches_a_long_resolved_issue_but_the_engine_opens_a_new_one() -> None:
    fire = make_alert(source_ref="alertmanager:aa11")
    resolve = make_alert(source_ref="alertmanager:aa11", action=ReportAction.RESOLVE, minutes=10)
    late = make_alert(source_ref="alertmanager:aa11", minutes=10 + 45)

    _decisions, store = run([fire, resolve])
    (resolved,) = store.all()
    found = match(late, [resolved], shipped_policies(), late.received_at)
    more, store = run([late], store=store)

    assert found.rule is MergeRule.SOURCE_ITEM
    assert [d.decision for d in more] == [Decision.CREATED]
    assert more[0].issue_id != resolved.issue_id
    assert more[0].merged_by is MergeRule.NEW
    assert len(store.all()) == 2


@pytest.mark.parametrize(
    ("minutes_after_resolve", "decision", "same_issue"),
    [(5, Decision.REOPENED, True), (30, Decision.REOPENED, True), (31, Decision.CREATED, False)],
)
def test_reopen_window(minutes_after_resolve: int, decision: Decision, same_issue: bool) -> None:
    ticket = make_report(source_ref="zendesk:9001", fingerprint="checkout:fail")
    solved = make_report(
        source_ref="zendesk:9001", fingerprint="checkout:fail", action=ReportAction.RESOLVE, minutes=60
    )
    again = make_report(fingerprint="checkout:fail", minutes=60 + minutes_after_resolve)

    decisions, _store = run([ticket, solved, again])

    assert decisions[-1].decision is decision
    assert (decisions[-1].issue_id == decisions[0].issue_id) is same_issue
    if same_issue:
        assert decisions[-1].flap_count == 1


@pytest.mark.parametrize(
    ("component", "hours", "merged"),
    [("checkout", 23, True), ("checkout", 25, False), ("onboarding", 25, True), ("onboarding", 73, False)],
)
def test_absorb_cap_with_route_override(component: str, hours: int, merged: bool) -> None:
    first = make_report(component=component, fingerprint=f"{component}:fail")
    later = [
        make_report(component=component, fingerprint=f"{component}:fail", minutes=h * 60)
        for h in range(1, hours + 1, 6)
    ]
    last = make_report(component=component, fingerprint=f"{component}:fail", minutes=hours * 60)

    _, store = run([first, *later, last])

    assert (len(store.all()) == 1) is merged


def test_open_after_n_holds_reports_until_the_threshold() -> None:
    posts = [
        make_report(
            title="The community forum is broken again",
            component="community",
            source="social",
            source_format="social",
            reporter={"kind": "social_account", "tier": None, "followers": 120},
            fingerprint="community:broken",
            minutes=i,
        )
        for i in range(3)
    ]

    decisions_after_two, store = run(posts[:2])
    (pending,) = store.all()
    decisions_after_three, store = run(posts[2:], store=store)

    assert decisions_after_two == []
    assert not pending.opened
    assert pending.pending == (posts[0].event_id, posts[1].event_id)
    (created,) = decisions_after_three
    assert created.decision is Decision.CREATED
    assert created.route.name == "social-mentions"
    assert created.occurrences == 3
    assert created.notify is True
    assert store.all()[0].pending == ()


def test_open_after_n_is_bypassed_for_severe_issues() -> None:
    post = make_report(
        title="The community forum leaked my email, data breach!",
        component="community",
        source="social",
        source_format="social",
        reporter={"kind": "social_account", "tier": None},
        fingerprint="community:leak",
    )

    decisions, _ = run([post])

    assert [(d.decision, d.severity.value) for d in decisions] == [(Decision.CREATED, "critical")]
