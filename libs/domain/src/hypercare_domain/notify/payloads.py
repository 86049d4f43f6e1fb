"""Channel payloads: Slack Block Kit, PagerDuty Events v2, and the generic JSON webhook body.

Each function is pure and returns plain JSON-ready data; :func:`encode_json` gives the exact bytes
to send (and to sign).
"""

from __future__ import annotations

import json
from typing import Any

from hypercare_contracts.common import Severity

from hypercare_domain.notify.formats import (
    SAMPLE_CHARS,
    digest_lines,
    impact_line,
    reach_line,
    reason_lines,
    route_line,
    shorten,
    sla_line,
    where_line,
)
from hypercare_domain.notify.render import NotificationKind, RenderedNotification

WEBHOOK_SCHEMA_VERSION = 1
PAGERDUTY_SUMMARY_MAX = 1024
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000

PAGERDUTY_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
}

_PAGERDUTY_ACTION = {
    NotificationKind.TRIGGER: "trigger",
    NotificationKind.UPDATE: "trigger",
    NotificationKind.ESCALATION: "trigger",
    NotificationKind.ACKNOWLEDGE: "acknowledge",
    NotificationKind.RESOLVE: "resolve",
}

JsonObject = dict[str, Any]


def encode_json(body: JsonObject) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent and signed."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = SLACK_TEXT_MAX) -> JsonObject:
    return {"type": "mrkdwn", "text": shorten(slack_escape(text), limit)}


def slack_blocks(note: RenderedNotification) -> list[JsonObject]:
    """Block Kit blocks: header, headline, fields, reasons, samples, and link buttons."""
    blocks: list[JsonObject] = [
        {"type": "header", "text": {"type": "plain_text", "text": shorten(note.title, SLACK_HEADER_MAX)}},
        {"type": "section", "text": _mrkdwn(f"*{note.headline}* · {note.kind.value} · {note.urgency.value}")},
    ]
    labelled = [
        ("Severity", note.severity.value),
        ("Impact", impact_line(note)),
        ("Reach", reach_line(note)),
        ("Route", route_line(note)),
        ("Where", where_line(note)),
        ("SLA", sla_line(note)),
    ]
    fields = [_mrkdwn(f"*{label}*\n{value}", SLACK_FIELD_MAX) for label, value in labelled if value]
    blocks.append({"type": "section", "fields": fields[:10]})
    reasons = reason_lines(note)
    if reasons:
        blocks.append({"type": "context", "elements": [_mrkdwn(reason) for reason in reasons]})
    if note.samples:
        samples = "\n".join(
            f"• _{s.source.value}_ {s.title}" + (f": {shorten(s.text, SAMPLE_CHARS)}" if s.text else "")
            for s in note.samples
        )
        blocks.append({"type": "section", "text": _mrkdwn(samples)})
    if note.digest:
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(f"• {d}" for d in digest_lines(note)))})
    buttons: list[JsonObject] = []
    if note.acknowledge_url:
        buttons.append(_button("Acknowledge", note.acknowledge_url, "acknowledge", "primary"))
    if note.resolve_url:
        buttons.append(_button("Resolve", note.resolve_url, "resolve", None))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _button(text: str, url: str, action_id: str, style: str | None) -> JsonObject:
    button: JsonObject = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "url": url,
        "action_id": action_id,
    }
    if style:
        button["style"] = style
    return button


def slack_message(note: RenderedNotification) -> JsonObject:
    """The incoming-webhook body: a plain ``text`` fallback (shown in push notifications) and the blocks."""
    return {"text": shorten(f"{note.title}: {note.headline}", SLACK_TEXT_MAX), "blocks": slack_blocks(note)}


def _impact_details(note: RenderedNotification) -> JsonObject | None:
    if note.impact is None:
        return None
    return {
        "score": note.impact.score,
        "reach": note.impact.reach,
        "financial": note.impact.financial,
        "reputational": note.impact.reputational,
        "top_reasons": [item.model_dump(mode="json") for item in note.impact.top_reasons],
    }


def _sla_details(note: RenderedNotification) -> JsonObject | None:
    if note.sla is None:
        return None
    return {
        "response_due_at": note.sla.response_due_at.isoformat() if note.sla.response_due_at else None,
        "resolution_due_at": note.sla.resolution_due_at.isoformat() if note.sla.resolution_due_at else None,
        "policy": note.sla.policy,
    }


def pagerduty_event(note: RenderedNotification, *, routing_key: str) -> JsonObject:
    """A PagerDuty Events API v2 event; ``dedup_key`` is the issue id so updates land on one incident.

    Acknowledge and resolve events carry only the routing key, action and dedup key, which is all
    PagerDuty reads from them. The summary is cut to 1,024 characters with an ellipsis.

    Raises:
        ValueError: a digest (it has no single issue to page about) or an empty routing key.
    """
    if note.kind is NotificationKind.DIGEST or note.issue_id is None:
        raise ValueError("digests are not sent to PagerDuty")
    if not routing_key:
        raise ValueError("PagerDuty routing key must not be empty")
    action = _PAGERDUTY_ACTION[note.kind]
    event: JsonObject = {"routing_key": routing_key, "event_action": action, "dedup_key": note.issue_id}
    if action != "trigger":
        return event
    event["payload"] = {
        "summary": shorten(f"{note.title} — {note.headline}", PAGERDUTY_SUMMARY_MAX),
        "source": note.component or note.route.name,
        "severity": PAGERDUTY_SEVERITY[note.severity],
        "timestamp": note.occurred_at.isoformat(),
        "component": note.component,
        "group": note.route.name,
        "class": note.kind.value,
        "custom_details": {
            "headline": note.headline,
            "issue_id": note.issue_id,
            "trigger_id": note.trigger_id,
            "impact": _impact_details(note),
            "breakdown": reason_lines(note),
            "reach": reach_line(note),
            "route": route_line(note),
            "sla": _sla_details(note),
        },
    }
    event["client"] = "Hypercare"
    event["links"] = [
        {"href": url, "text": text}
        for text, url in (("Acknowledge", note.acknowledge_url), ("Resolve", note.resolve_url))
        if url
    ]
    return event


def webhook_body(note: RenderedNotification) -> JsonObject:
    """The generic webhook body, ``schema_version`` 1 (documented in ``docs/notifications.md``)."""
    return {
        "schema_version": WEBHOOK_SCHEMA_VERSION,
        "kind": note.kind.value,
        "urgency": note.urgency.value,
        "issue_id": note.issue_id,
        "trigger_id": note.trigger_id,
        "title": note.title,
        "headline": note.headline,
        "severity": note.severity.value,
        "previous_severity": note.previous_severity.value if note.previous_severity else None,
        "status": note.status.value if note.status else None,
        "component": note.component,
        "environment": note.environment,
        "impact": _impact_details(note),
        "reach": (
            None
            if note.occurrences is None
            else {"occurrences": note.occurrences, "distinct_reporters": note.distinct_reporters}
        ),
        "route": {
            "name": note.route.name,
            "team": note.route.team,
            "escalation_policy": note.route.escalation_policy,
        },
        "sla": _sla_details(note),
        "samples": [sample.model_dump(mode="json") for sample in note.samples],
        "actions": {"acknowledge": note.acknowledge_url, "resolve": note.resolve_url},
        "occurred_at": note.occurred_at.isoformat(),
        "first_seen": note.first_seen.isoformat() if note.first_seen else None,
        "last_seen": note.last_seen.isoformat() if note.last_seen else None,
        "digest": [
            {
                "issue_id": e.issue_id,
                "title": e.title,
                "severity": e.severity.value,
                "status": e.status.value,
                "impact_score": e.impact_score,
                "occurrences": e.occurrences,
                "last_seen": e.last_seen.isoformat(),
            }
            for e in note.digest
        ],
    }
