"""Which message models travel on which topic, and the AsyncAPI document generated from them."""

from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hypercare_contracts import topics
from hypercare_contracts.deadletter import DeadLetter
from hypercare_contracts.lifecycle import LifecycleCommand, LifecycleEvent
from hypercare_contracts.normalized import NormalizedReport
from hypercare_contracts.notifications import NotificationRecord
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    GrafanaWebhook,
    InAppFeedback,
    PagerDutyEvent,
    SocialMention,
    ZendeskTicketEvent,
)
from hypercare_contracts.sla import SlaEvent
from hypercare_contracts.triaged import TriagedIssue

TOPIC_MESSAGES: Final[dict[str, tuple[type[BaseModel], ...]]] = {
    topics.RAW_TICKETS: (ZendeskTicketEvent, GenericTicket),
    topics.RAW_FEEDBACK: (InAppFeedback,),
    topics.RAW_SOCIAL: (SocialMention,),
    topics.RAW_ALERTS: (AlertmanagerWebhook, GrafanaWebhook, PagerDutyEvent),
    topics.ISSUES_NORMALIZED: (NormalizedReport,),
    topics.ISSUES_TRIAGED: (TriagedIssue,),
    topics.ISSUES_LIFECYCLE: (LifecycleCommand, LifecycleEvent),
    topics.SLA_EVENTS: (SlaEvent,),
    topics.NOTIFICATIONS: (NotificationRecord,),
    topics.DEADLETTER: (DeadLetter,),
}

_KEYS: Final = {
    topics.ISSUES_NORMALIZED: "the report's fingerprint, so one problem always lands on one partition",
    topics.ISSUES_TRIAGED: "the issue id",
    topics.ISSUES_LIFECYCLE: "the issue id",
    topics.SLA_EVENTS: "the issue id",
    topics.NOTIFICATIONS: "the issue id",
}

_DESCRIPTIONS: Final = {
    topics.RAW_TICKETS: "Support desk tickets: Zendesk ticket event webhooks or the generic ticket shape.",
    topics.RAW_FEEDBACK: "In-app feedback widget submissions.",
    topics.RAW_SOCIAL: "Social posts and app-store reviews mentioning the product.",
    topics.RAW_ALERTS: "Monitoring alerts: Alertmanager v4, Grafana alerting or PagerDuty Events v2, by shape.",
    topics.ISSUES_NORMALIZED: "One redacted, fingerprinted report per problem report.",
    topics.ISSUES_TRIAGED: "Triage decisions: created, updated, raised, reopened, resolved, suppressed, released.",
    topics.ISSUES_LIFECYCLE: (
        "Lifecycle commands (header hypercare-message: command) and the events they caused "
        "(hypercare-message: event)."
    ),
    topics.SLA_EVENTS: "SLA milestones (at_risk, breached, met) and escalation steps.",
    topics.NOTIFICATIONS: "Every delivery outcome: sent, retried, failed, digested.",
    topics.DEADLETTER: "Messages that could not be processed, with the original bytes and the reason.",
}


def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    """An AsyncAPI 3.0 document of every topic and its message schemas, generated from the models."""
    models = sorted({m for group in TOPIC_MESSAGES.values() for m in group}, key=lambda m: m.__name__)
    _, schemas = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, group in TOPIC_MESSAGES.items():
        channel_id = topic.replace(".", "_")
        channel_messages = {}
        for model in group:
            messages[model.__name__] = {
                "name": model.__name__,
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            }
            channel_messages[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        description = _DESCRIPTIONS[topic]
        if topic in _KEYS:
            description += f" Keyed by {_KEYS[topic]}."
        channels[channel_id] = {"address": topic, "description": description, "messages": channel_messages}
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hypercare",
            "version": version,
            "description": "Topics and messages of the Hypercare pipeline. Every message carries schema_version.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.get("$defs", {})},
    }
