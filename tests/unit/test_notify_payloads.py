"""Channel payloads: Slack Block Kit, PagerDuty Events v2, generic webhook."""

import json
from datetime import UTC, datetime

import pytest
from hypercare_contracts.common import ScoreItem, Severity
from hypercare_contracts.triaged import IssueStatus, ReportSummary
from hypercare_domain.notify.payloads import (
    PAGERDUTY_SUMMARY_MAX,
    encode_json,
    pagerduty_event,
    slack_message,
    webhook_body,
)
from hypercare_domain.notify.render import (
    DigestEntry,
    ImpactSummary,
    NotificationKind,
    RenderedNotification,
    RouteSummary,
    Urgency,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def make_note(**overrides: object) -> RenderedNotification:
    fields: dict[str, object] = {
        "kind": NotificationKind.TRIGGER,
        "urgency": Urgency.PAGE,
        "trigger_id": "dec-1",
        "issue_id": "iss-1",
        "title": "[CRITICAL] Checkout fails",
        "headline": "New critical issue",
        "severity": Severity.CRITICAL,
        "occurred_at": T0,
        "route": RouteSummary(name="payments", team="payments-oncall", escalation_policy="p1"),
        "status": IssueStatus.OPEN,
        "component": "checkout",
        "environment": "production",
        "impact": ImpactSummary(
            score=82,
            reach=90,
            financial=70,
            reputational=40,
            top_reasons=(ScoreItem(rule="reach", contribution=30, reason="37 reporters"),),
        ),
        "occurrences": 120,
        "distinct_reporters": 37,
        "samples": (ReportSummary(event_id="e1", source="tickets", title="Card declined", text="<b>x</b>"),),
        "acknowledge_url": "https://hc.example/v1/actions/ack",
        "resolve_url": "https://hc.example/v1/actions/res",
    }
    fields.update(overrides)
    return RenderedNotification(**fields)  # type: ignore[arg-type]


def test_slack_message_shape() -> None:
    message = slack_message(make_note())
    assert message["text"] == "[CRITICAL] Checkout fails: New critical issue"
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "section", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "[CRITICAL] Checkout fails"}
    fields = blocks[2]["fields"]
    assert 1 <= len(fields) <= 10
    assert all(f["type"] == "mrkdwn" for f in fields)
    assert "*Severity*\ncritical" in [f["text"] for f in fields]
    buttons = blocks[-1]["elements"]
    assert [(b["type"], b["url"]) for b in buttons] == [
        ("button", "https://hc.example/v1/actions/ack"),
        ("button", "https://hc.example/v1/actions/res"),
    ]
    assert "&lt;b&gt;x&lt;/b&gt;" in blocks[4]["text"]["text"]


def test_slack_header_is_cut_to_its_limit_and_without_links_there_are_no_buttons() -> None:
    message = slack_message(make_note(title="T" * 400, acknowledge_url=None, resolve_url=None))
    header = message["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert "actions" not in [b["type"] for b in message["blocks"]]


def test_pagerduty_trigger_event() -> None:
    event = pagerduty_event(make_note(), routing_key="rk-1")
    assert event["routing_key"] == "rk-1"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "iss-1"
    payload = event["payload"]
    assert payload["summary"] == "[CRITICAL] Checkout fails — New critical issue"
    assert payload["severity"] == "critical"
    assert payload["custom_details"]["impact"]["score"] == 82
    assert payload["custom_details"]["breakdown"] == ["+30.0 reach: 37 reporters"]
    assert event["links"] == [
        {"href": "https://hc.example/v1/actions/ack", "text": "Acknowledge"},
        {"href": "https://hc.example/v1/actions/res", "text": "Resolve"},
    ]


def test_pagerduty_summary_is_truncated_not_rejected() -> None:
    event = pagerduty_event(make_note(title="x" * 5000), routing_key="rk")
    summary = event["payload"]["summary"]
    assert len(summary) == PAGERDUTY_SUMMARY_MAX == 1024
    assert summary.endswith("…")
    assert summary.startswith("xxx")


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.CRITICAL, "critical"),
        (Severity.HIGH, "error"),
        (Severity.MEDIUM, "warning"),
        (Severity.LOW, "info"),
    ],
)
def test_pagerduty_severity_mapping(severity: Severity, expected: str) -> None:
    assert pagerduty_event(make_note(severity=severity), routing_key="rk")["payload"]["severity"] == expected


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        (NotificationKind.TRIGGER, "trigger"),
        (NotificationKind.UPDATE, "trigger"),
        (NotificationKind.ESCALATION, "trigger"),
        (NotificationKind.ACKNOWLEDGE, "acknowledge"),
        (NotificationKind.RESOLVE, "resolve"),
    ],
)
def test_pagerduty_action_mirrors_the_kind(kind: NotificationKind, action: str) -> None:
    event = pagerduty_event(make_note(kind=kind), routing_key="rk")
    assert event["event_action"] == action
    assert event["dedup_key"] == "iss-1"
    assert ("payload" in event) is (action == "trigger")


def test_pagerduty_refuses_digests_and_empty_keys() -> None:
    with pytest.raises(ValueError, match="digest"):
        pagerduty_event(make_note(kind=NotificationKind.DIGEST, issue_id=None), routing_key="rk")
    with pytest.raises(ValueError, match="routing key"):
        pagerduty_event(make_note(), routing_key="")


def test_webhook_body_is_versioned_json() -> None:
    body = json.loads(encode_json(webhook_body(make_note())))
    assert body["schema_version"] == 1
    assert body["kind"] == "trigger"
    assert body["urgency"] == "page"
    assert body["issue_id"] == "iss-1"
    assert body["impact"]["top_reasons"] == [
        {"rule": "reach", "contribution": 30.0, "reason": "37 reporters"}
    ]
    assert body["reach"] == {"occurrences": 120, "distinct_reporters": 37}
    assert body["route"] == {"name": "payments", "team": "payments-oncall", "escalation_policy": "p1"}
    assert body["actions"] == {
        "acknowledge": "https://hc.example/v1/actions/ack",
        "resolve": "https://hc.example/v1/actions/res",
    }
    assert body["occurred_at"] == "2025-03-14T09:30:00+00:00"
    assert body["samples"][0]["source"] == "tickets"


def test_webhook_body_of_a_digest_lists_its_issues() -> None:
    entry = DigestEntry(
        issue_id="a",
        title="A",
        severity=Severity.LOW,
        status=IssueStatus.OPEN,
        impact_score=10,
        occurrences=2,
        last_seen=T0,
    )
    body = webhook_body(make_note(kind=NotificationKind.DIGEST, issue_id=None, digest=(entry,), impact=None))
    assert body["digest"][0]["issue_id"] == "a"
    assert body["impact"] is None


def test_encode_json_keeps_unicode_and_is_compact() -> None:
    assert encode_json({"t": "café → ok"}) == '{"t":"café → ok"}'.encode()
