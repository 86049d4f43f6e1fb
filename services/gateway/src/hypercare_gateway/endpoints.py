"""The webhook endpoints: path, scope (and so raw topic), accepted formats and documented body models."""

from dataclasses import dataclass

from hypercare_contracts import SourceFormat
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    GrafanaWebhook,
    InAppFeedback,
    PagerDutyEvent,
    RawModel,
    SocialMention,
    ZendeskTicketEvent,
)

from hypercare_gateway.settings import Scope

WEBHOOK_FORMATS = frozenset({SourceFormat.ALERTMANAGER, SourceFormat.GRAFANA})


@dataclass(frozen=True)
class Endpoint:
    """One ``POST`` endpoint.

    Attributes:
        path: the URL path.
        name: short name, the ``endpoint`` label of the request metrics.
        scope: the producer scope it needs; also the raw topic it publishes to.
        formats: the payload formats it accepts (detected by shape).
        models: the contract models documented as its request body.
        summary: one line for the OpenAPI document.
        hint: where to post the formats it does not take.
        pagerduty: answers like the PagerDuty Events API v2 and accepts the routing key as credential.
        zendesk: verifies the Zendesk webhook signature when a secret is configured.
        description: the longer OpenAPI description.
        aliases: further paths served by the same handler, left out of the OpenAPI document.
    """

    path: str
    name: str
    scope: Scope
    formats: frozenset[SourceFormat]
    models: tuple[type[RawModel], ...]
    summary: str
    hint: str
    pagerduty: bool = False
    zendesk: bool = False
    description: str = (
        "Validated as the normalizer will validate it, then the original body is written to the raw topic. "
        "202 means Kafka acknowledged the write."
    )
    aliases: tuple[str, ...] = ()


_ALERT_HINT = (
    "post Alertmanager or Grafana webhooks to /v1/alerts/alertmanager or /v1/alerts/grafana and "
    "PagerDuty Events API v2 events to /v1/alerts/pagerduty"
)
_TICKET_HINT = "post Zendesk webhooks to /v1/tickets/zendesk and other tickets to /v1/tickets"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/v1/alerts/alertmanager",
        "alertmanager",
        "alerts",
        WEBHOOK_FORMATS,
        (AlertmanagerWebhook, GrafanaWebhook),
        "Prometheus Alertmanager webhook (version 4); Grafana webhooks are accepted too",
        _ALERT_HINT,
    ),
    Endpoint(
        "/v1/alerts/grafana",
        "grafana",
        "alerts",
        WEBHOOK_FORMATS,
        (GrafanaWebhook, AlertmanagerWebhook),
        "Grafana Alerting webhook contact point (version 1); Alertmanager webhooks are accepted too",
        _ALERT_HINT,
    ),
    Endpoint(
        "/v1/alerts/pagerduty",
        "pagerduty",
        "alerts",
        frozenset({SourceFormat.PAGERDUTY}),
        (PagerDutyEvent,),
        "PagerDuty Events API v2 event (trigger, acknowledge, resolve)",
        _ALERT_HINT,
        pagerduty=True,
        description=(
            "Answers like PagerDuty (202, status/message/dedup_key). Authenticate with a bearer token, or "
            "with the event's routing_key set to a producer token, as PagerDuty senders do. A trigger "
            "without dedup_key gets a stable one, returned and added to the published event. Also served "
            "at /v1/alerts/pagerduty/v2/enqueue for clients that append PagerDuty's path to a base URL."
        ),
        # Clients configured with a base URL append PagerDuty's own path to it.
        aliases=("/v1/alerts/pagerduty/v2/enqueue",),
    ),
    Endpoint(
        "/v1/tickets/zendesk",
        "zendesk",
        "tickets",
        frozenset({SourceFormat.ZENDESK}),
        (ZendeskTicketEvent,),
        "Zendesk ticket event webhook (zen:event-type:ticket.*), signature verified",
        _TICKET_HINT,
        zendesk=True,
        description=(
            "When HYPERCARE_ZENDESK_WEBHOOK_SECRET is set, X-Zendesk-Webhook-Signature must be "
            "base64(HMAC-SHA256(secret, X-Zendesk-Webhook-Signature-Timestamp + body)); 401 otherwise."
        ),
    ),
    Endpoint(
        "/v1/tickets",
        "tickets",
        "tickets",
        frozenset({SourceFormat.GENERIC_TICKET}),
        (GenericTicket,),
        "A support ticket from any desk that is not Zendesk",
        _TICKET_HINT,
    ),
    Endpoint(
        "/v1/feedback",
        "feedback",
        "feedback",
        frozenset({SourceFormat.FEEDBACK}),
        (InAppFeedback,),
        "In-app feedback widget submission",
        "post feedback here, tickets to /v1/tickets",
    ),
    Endpoint(
        "/v1/social",
        "social",
        "social",
        frozenset({SourceFormat.SOCIAL}),
        (SocialMention,),
        "Social post or app-store review mentioning the product",
        "post social mentions here, feedback to /v1/feedback",
    ),
)
