"""The neutral notification model, its text and HTML renderings, and digests."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypercare_contracts.common import ScoreItem, Severity, Source
from hypercare_contracts.lifecycle import LifecycleAction, LifecycleEvent, Via
from hypercare_contracts.sla import SlaEvent, SlaEventKind, SlaTarget
from hypercare_contracts.triaged import (
    Decision,
    Impact,
    IssueStatus,
    MergeRule,
    ReportSummary,
    Route,
    TriagedIssue,
)
from hypercare_domain.notify.digest import render_digest
from hypercare_domain.notify.formats import to_html, to_text
from hypercare_domain.notify.links import ActionLinks
from hypercare_domain.notify.render import (
    NotificationKind,
    SlaSummary,
    Urgency,
    render,
    render_lifecycle,
    render_sla,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def make_issue(**overrides: Any) -> TriagedIssue:
    fields: dict[str, Any] = {
        "decision_id": "dec-1",
        "decision": Decision.CREATED,
        "issue_id": "iss-1",
        "version": 1,
        "title": "Checkout fails for card payments",
        "component": "checkout",
        "environment": "production",
        "status": IssueStatus.OPEN,
        "severity": Severity.CRITICAL,
        "impact": Impact(score=82, reach=90, financial=70, reputational=40),
        "breakdown": [
            ScoreItem(rule="monitor", contribution=5, reason="alert firing"),
            ScoreItem(rule="reach", contribution=30, reason="37 distinct reporters"),
            ScoreItem(rule="maintenance", contribution=-12, reason="inside a maintenance window"),
            ScoreItem(rule="revenue", contribution=20, reason="$12k at risk"),
            ScoreItem(rule="tier", contribution=8, reason="enterprise customers"),
        ],
        "route": Route(name="payments", team="payments-oncall", escalation_policy="payments-p1", channels=[]),
        "occurrences": 120,
        "distinct_reporters": 37,
        "merged_by": MergeRule.NEW,
        "sources": [Source.TICKETS],
        "first_seen": T0 - timedelta(minutes=20),
        "last_seen": T0,
        "decided_at": T0,
        "notify": True,
        "samples": [
            ReportSummary(event_id=f"ev-{n}", source=Source.TICKETS, title=f"Report {n}", text=f"text {n}")
            for n in range(5)
        ],
    }
    fields.update(overrides)
    return TriagedIssue(**fields)


def make_sla_event(**overrides: Any) -> SlaEvent:
    fields: dict[str, Any] = {
        "event_id": "sla-1",
        "kind": SlaEventKind.BREACHED,
        "issue_id": "iss-1",
        "severity": Severity.HIGH,
        "route": "payments",
        "target": SlaTarget.RESPONSE,
        "due_at": T0 + timedelta(minutes=15),
        "emitted_at": T0 + timedelta(minutes=15),
        "business_elapsed_seconds": 900,
        "policy": "payments-p1",
    }
    fields.update(overrides)
    return SlaEvent(**fields)


def make_links(issue_id: str = "iss-1") -> ActionLinks:
    return ActionLinks.sign(
        base_url="https://hc.example", issue_id=issue_id, secret="s", expires_at=T0 + timedelta(days=3)
    )


def test_top_three_reasons_by_weight_in_order() -> None:
    note = render(make_issue(), links=make_links(), sla=None)
    assert note.impact is not None
    assert [item.rule for item in note.impact.top_reasons] == ["reach", "revenue", "maintenance"]


def test_reach_route_samples_and_links() -> None:
    note = render(make_issue(), links=make_links(), sla=None)
    assert (note.occurrences, note.distinct_reporters) == (120, 37)
    assert (note.route.name, note.route.team) == ("payments", "payments-oncall")
    assert [s.event_id for s in note.samples] == ["ev-0", "ev-1", "ev-2"]
    assert note.acknowledge_url == make_links().acknowledge_url
    assert note.resolve_url == make_links().resolve_url
    assert note.trigger_id == "dec-1"


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [
        (Severity.CRITICAL, Urgency.PAGE),
        (Severity.HIGH, Urgency.PAGE),
        (Severity.MEDIUM, Urgency.NOTIFY),
        (Severity.LOW, Urgency.NOTIFY),
    ],
)
def test_urgency_follows_severity(severity: Severity, urgency: Urgency) -> None:
    assert render(make_issue(severity=severity), links=None, sla=None).urgency is urgency


@pytest.mark.parametrize(
    ("decision", "kind", "headline"),
    [
        (Decision.CREATED, NotificationKind.TRIGGER, "New critical issue"),
        (Decision.REOPENED, NotificationKind.TRIGGER, "Reopened as critical"),
        (Decision.RELEASED, NotificationKind.TRIGGER, "Suppression ended"),
        (Decision.UPDATED, NotificationKind.UPDATE, "120 occurrences from 37 reporters"),
        (Decision.RAISED, NotificationKind.UPDATE, "Severity raised from medium to critical"),
        (Decision.RESOLVED, NotificationKind.RESOLVE, "Resolved"),
    ],
)
def test_kind_and_headline_follow_the_decision(
    decision: Decision, kind: NotificationKind, headline: str
) -> None:
    issue = make_issue(decision=decision, previous_severity=Severity.MEDIUM)
    note = render(issue, links=make_links(), sla=None)
    assert note.kind is kind
    assert headline in note.headline


def test_resolved_and_acknowledged_titles_and_links() -> None:
    resolved = render(make_issue(decision=Decision.RESOLVED), links=make_links(), sla=None)
    assert resolved.title == "[RESOLVED] Checkout fails for card payments"
    assert resolved.acknowledge_url is None
    assert resolved.resolve_url is None
    acked = render(make_issue(), links=make_links(), sla=None, kind=NotificationKind.ACKNOWLEDGE)
    assert acked.title.startswith("[ACKNOWLEDGED]")


def test_links_of_another_issue_are_refused() -> None:
    with pytest.raises(ValueError, match="iss-2"):
        render(make_issue(), links=make_links("iss-2"), sla=None)


def test_text_rendering_shows_what_a_responder_needs() -> None:
    sla = SlaSummary(response_due_at=T0 + timedelta(minutes=15), resolution_due_at=T0 + timedelta(hours=4))
    text = to_text(render(make_issue(), links=make_links(), sla=sla))
    assert text.startswith("[CRITICAL] Checkout fails for card payments\n")
    for expected in (
        "Impact 82/100 (reach 90, financial 70, reputational 40)",
        "Reach: 120 occurrences from 37 reporters",
        "Route: payments → team payments-oncall (policy payments-p1)",
        "SLA: respond by 2025-03-14 09:45 UTC, resolve by 2025-03-14 13:30 UTC",
        "+30.0 reach: 37 distinct reporters",
        "-12.0 maintenance: inside a maintenance window",
        "[tickets] Report 0: text 0",
        f"Acknowledge: {make_links().acknowledge_url}",
    ):
        assert expected in text
    assert "Report 3" not in text


def test_html_escapes_everything_from_outside() -> None:
    hostile = '<script>alert("x")</script> & co'
    issue = make_issue(
        title=hostile,
        samples=[ReportSummary(event_id="e", source=Source.SOCIAL, title="<b>bold</b>", text="<img src=x>")],
        route=Route(name="pay<ments>", team="a&b", escalation_policy="p", channels=[]),
    )
    html = to_html(render(issue, links=make_links(), sla=None))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    assert "<b>bold</b>" not in html
    assert "<img" not in html
    assert "pay&lt;ments&gt;" in html
    assert "a&amp;b" in html
    assert f'href="{make_links().resolve_url}"' in html


def test_sla_breach_without_the_issue() -> None:
    note = render_sla(make_sla_event(), None, make_links())
    assert note.kind is NotificationKind.ESCALATION
    assert note.urgency is Urgency.PAGE
    assert note.title == "[ESCALATION · HIGH] Issue iss-1"
    assert note.headline == "Response SLA breached: was due 2025-03-14 09:45 UTC"
    assert note.sla == SlaSummary(response_due_at=T0 + timedelta(minutes=15), policy="payments-p1")
    assert note.impact is None
    assert note.acknowledge_url is not None


def test_sla_event_with_the_issue_adds_impact_and_team() -> None:
    event = make_sla_event(kind=SlaEventKind.ESCALATION, escalation_step=2, escalation_target="cto")
    note = render_sla(event, make_issue(), make_links())
    assert note.headline == "Escalated step 2 to cto: still not acknowledged"
    assert note.route.team == "payments-oncall"
    assert note.impact is not None
    assert note.title.endswith("Checkout fails for card payments")


def test_sla_met_never_pages_and_offers_no_links() -> None:
    note = render_sla(make_sla_event(kind=SlaEventKind.MET, severity=Severity.CRITICAL), None, make_links())
    assert (note.kind, note.urgency) == (NotificationKind.UPDATE, Urgency.NOTIFY)
    assert note.acknowledge_url is None


def test_sla_event_for_another_issue_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        render_sla(make_sla_event(issue_id="iss-2"), make_issue(), None)


def test_digest_keeps_the_newest_decision_per_issue_most_severe_first() -> None:
    decisions = [
        make_issue(issue_id="a", version=1, severity=Severity.LOW, title="A old"),
        make_issue(issue_id="a", version=2, severity=Severity.MEDIUM, title="A new"),
        make_issue(issue_id="b", version=1, severity=Severity.LOW, title="B"),
        make_issue(
            issue_id="c",
            version=1,
            severity=Severity.MEDIUM,
            title="C",
            impact=Impact(score=95, reach=1, financial=1, reputational=1),
        ),
    ]
    note = render_digest(decisions, route="payments", window_start=T0, window_end=T0 + timedelta(hours=1))
    assert [e.title for e in note.digest] == ["C", "A new", "B"]
    assert note.title == "[DIGEST] 3 issues for payments"
    assert (note.kind, note.urgency, note.severity) == (
        NotificationKind.DIGEST,
        Urgency.NOTIFY,
        Severity.MEDIUM,
    )
    assert note.issue_id is None
    assert "[MEDIUM] C · impact 95" in to_text(note)


def test_digest_caps_the_list_but_counts_everything() -> None:
    decisions = [make_issue(issue_id=f"i{n}", severity=Severity.LOW) for n in range(5)]
    note = render_digest(decisions, route="r", window_start=T0, window_end=T0, max_entries=2)
    assert len(note.digest) == 2
    assert note.headline.startswith("5 issues")
    assert "(showing 2)" in note.headline


def test_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_digest([], route="r", window_start=T0, window_end=T0)


def make_lifecycle_event(action: LifecycleAction, **overrides: Any) -> LifecycleEvent:
    fields: dict[str, Any] = {
        "event_id": "evt-1",
        "command_id": "cmd-1",
        "issue_id": "iss-1",
        "action": action,
        "actor": "alice",
        "via": Via.LINK,
        "at": T0 + timedelta(minutes=4),
        "from_status": IssueStatus.OPEN,
        "to_status": IssueStatus.ACKNOWLEDGED,
    }
    fields.update(overrides)
    return LifecycleEvent(**fields)


def test_a_persons_acknowledge_names_who_did_it_how_and_when() -> None:
    event = make_lifecycle_event(LifecycleAction.ACKNOWLEDGE)
    note = render_lifecycle(event, make_issue(), make_links())
    assert note.kind is NotificationKind.ACKNOWLEDGE
    assert note.title == "[ACKNOWLEDGED] Checkout fails for card payments"
    assert note.headline == "Acknowledged by alice via a signed link"
    assert (note.trigger_id, note.occurred_at, note.status) == ("evt-1", event.at, IssueStatus.ACKNOWLEDGED)
    assert (note.urgency, note.route.team, note.occurrences) == (Urgency.PAGE, "payments-oncall", 120)
    assert note.resolve_url == make_links().resolve_url
    assert "Acknowledged by alice via a signed link" in to_text(note)


def test_a_persons_resolve_offers_no_links() -> None:
    event = make_lifecycle_event(
        LifecycleAction.RESOLVE, via=Via.API, actor="bob", to_status=IssueStatus.RESOLVED
    )
    note = render_lifecycle(event, make_issue(), make_links())
    assert (note.kind, note.headline) == (NotificationKind.RESOLVE, "Resolved by bob via the API")
    assert note.title.startswith("[RESOLVED] ")
    assert (note.acknowledge_url, note.resolve_url) == (None, None)


def test_lifecycle_events_that_are_not_announced_or_of_another_issue_are_refused() -> None:
    with pytest.raises(ValueError, match="snooze"):
        render_lifecycle(
            make_lifecycle_event(LifecycleAction.SNOOZE, snooze_until=T0 + timedelta(hours=1)),
            make_issue(),
            None,
        )
    with pytest.raises(ValueError, match="does not match"):
        render_lifecycle(
            make_lifecycle_event(LifecycleAction.ACKNOWLEDGE, issue_id="iss-2"), make_issue(), None
        )
