"""Which raw format a message is (by its shape), and its validation against the contract model."""

from collections.abc import Mapping
from typing import Any

from hypercare_contracts import ErrorClass, Source, SourceFormat
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
from hypercare_contracts.topics import RAW_ALERTS, RAW_FEEDBACK, RAW_SOCIAL, RAW_TICKETS
from pydantic import ValidationError

from hypercare_domain.normalize.guard import Rejected
from hypercare_domain.normalize.redact import redact

TOPIC_SOURCES: Mapping[str, Source] = {
    RAW_ALERTS: Source.ALERTS,
    RAW_TICKETS: Source.TICKETS,
    RAW_FEEDBACK: Source.FEEDBACK,
    RAW_SOCIAL: Source.SOCIAL,
    **{source.value: source for source in Source},
}
"""Raw topic names, and the bare source names the gateway endpoints use, to their source."""

FORMAT_SOURCES: Mapping[SourceFormat, Source] = {
    SourceFormat.ALERTMANAGER: Source.ALERTS,
    SourceFormat.GRAFANA: Source.ALERTS,
    SourceFormat.PAGERDUTY: Source.ALERTS,
    SourceFormat.ZENDESK: Source.TICKETS,
    SourceFormat.GENERIC_TICKET: Source.TICKETS,
    SourceFormat.FEEDBACK: Source.FEEDBACK,
    SourceFormat.SOCIAL: Source.SOCIAL,
}

_MODELS: Mapping[SourceFormat, type[RawModel]] = {
    SourceFormat.ALERTMANAGER: AlertmanagerWebhook,
    SourceFormat.GRAFANA: GrafanaWebhook,
    SourceFormat.PAGERDUTY: PagerDutyEvent,
    SourceFormat.ZENDESK: ZendeskTicketEvent,
    SourceFormat.GENERIC_TICKET: GenericTicket,
    SourceFormat.FEEDBACK: InAppFeedback,
    SourceFormat.SOCIAL: SocialMention,
}

_GRAFANA_MARKERS = ("orgId", "title", "state")
_GENERIC_TICKET_KEYS = ("id", "subject", "body", "requester")
_ZENDESK_TICKET_PREFIX = "zen:event-type:ticket."
_MAX_ERRORS = 5
_MAX_INPUT_SHOWN = 40


def source_of(topic: str) -> Source:
    """The source a raw topic carries.

    Raises:
        Rejected: ``UNKNOWN_TOPIC`` for a topic that is not a raw producer topic.
    """
    try:
        return TOPIC_SOURCES[topic]
    except KeyError:
        raise Rejected(
            ErrorClass.UNKNOWN_TOPIC,
            f"topic {topic[:100]!r} is not a raw topic; expected one of "
            f"{RAW_ALERTS}, {RAW_TICKETS}, {RAW_FEEDBACK}, {RAW_SOCIAL}",
        ) from None


def _keys_seen(payload: Mapping[str, Any]) -> str:
    keys = sorted(str(k)[:40] for k in payload)
    shown = ", ".join(keys[:12])
    return shown + (", ..." if len(keys) > 12 else "") if keys else "none"


def _detect_alert(payload: Mapping[str, Any]) -> SourceFormat:
    if "alerts" in payload:
        version = payload.get("version")
        if version == "4":
            return SourceFormat.ALERTMANAGER
        if version == "1" or (version is None and any(k in payload for k in _GRAFANA_MARKERS)):
            return SourceFormat.GRAFANA
        if version is None:
            raise Rejected(
                ErrorClass.UNSUPPORTED_VERSION,
                'alert webhook has no "version"; expected Alertmanager version "4" or Grafana version "1"',
                field="version",
            )
        raise Rejected(
            ErrorClass.UNSUPPORTED_VERSION,
            f'alert webhook version {str(version)[:20]!r} is not supported; expected Alertmanager "4" '
            'or Grafana "1"; upgrade the sender',
            field="version",
        )
    if "routing_key" in payload and "event_action" in payload:
        return SourceFormat.PAGERDUTY
    if "service_key" in payload and "event_type" in payload:
        raise Rejected(
            ErrorClass.UNSUPPORTED_VERSION,
            "PagerDuty Events API v1 is not supported; send Events API v2 (routing_key, event_action)",
        )
    raise Rejected(
        ErrorClass.UNKNOWN_FORMAT,
        "alert is neither an Alertmanager/Grafana webhook (alerts[]) nor a PagerDuty v2 event "
        f"(routing_key, event_action); keys seen: {_keys_seen(payload)}",
    )


def _detect_ticket(payload: Mapping[str, Any]) -> SourceFormat:
    event_type = payload.get("type")
    if isinstance(event_type, str) and event_type.startswith("zen:"):
        if event_type.startswith(_ZENDESK_TICKET_PREFIX):
            return SourceFormat.ZENDESK
        raise Rejected(
            ErrorClass.UNKNOWN_FORMAT,
            f"Zendesk event type {event_type[:80]!r} is not a ticket event; subscribe the webhook to "
            "zen:event-type:ticket.* events only",
            field="type",
        )
    if any(key in payload for key in _GENERIC_TICKET_KEYS):
        return SourceFormat.GENERIC_TICKET
    raise Rejected(
        ErrorClass.UNKNOWN_FORMAT,
        "ticket is neither a Zendesk ticket event (type zen:event-type:ticket.*) nor a generic ticket "
        f"(id, subject, requester); keys seen: {_keys_seen(payload)}",
    )


def detect_format(topic: str, payload: Mapping[str, Any]) -> SourceFormat:
    """Tell the concrete format of a raw message from its topic and shape.

    Args:
        topic: the raw topic (``hypercare.raw.alerts``) or bare source name (``alerts``).
        payload: the decoded JSON object.

    Returns:
        The format to parse the payload as.

    Raises:
        Rejected: ``UNKNOWN_TOPIC``, ``UNKNOWN_FORMAT`` (no known shape), or ``UNSUPPORTED_VERSION`` (a
            known shape in a version this project does not read).
    """
    source = source_of(topic)
    if source is Source.ALERTS:
        return _detect_alert(payload)
    if source is Source.TICKETS:
        return _detect_ticket(payload)
    if source is Source.FEEDBACK:
        return SourceFormat.FEEDBACK
    return SourceFormat.SOCIAL


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    path = ".".join(str(part) for part in error["loc"]) or "<root>"
    message = str(error["msg"])
    if error["type"] == "missing":
        message = "field required"
    elif not isinstance(error.get("input"), dict | list):
        shown = repr(error.get("input"))
        if len(shown) > _MAX_INPUT_SHOWN:
            shown = shown[: _MAX_INPUT_SHOWN - 3] + "..."
        message = f"{message} (got {shown})"
    return path, message


def _semantic_checks(model: RawModel) -> None:
    if isinstance(model, PagerDutyEvent):
        if model.event_action == "trigger" and model.payload is None:
            raise Rejected(
                ErrorClass.SCHEMA_VIOLATION,
                "payload: field required for a trigger event (summary, source, severity)",
                field="payload",
            )
        if model.event_action != "trigger" and model.dedup_key is None:
            raise Rejected(
                ErrorClass.SCHEMA_VIOLATION,
                f"dedup_key: field required for an {model.event_action} event; it names the incident",
                field="dedup_key",
            )


def parse_raw(fmt: SourceFormat, payload: Mapping[str, Any]) -> RawModel:
    """Validate a payload as the contract model of its format.

    Args:
        fmt: the format from :func:`detect_format`.
        payload: the decoded JSON object.

    Returns:
        The validated, immutable contract model.

    Raises:
        Rejected: ``SCHEMA_VIOLATION`` naming the field path of the first problems found (missing,
            mistyped or out of range), e.g. ``alerts.0.labels: field required``.
    """
    try:
        model = _MODELS[fmt].model_validate(payload)
    except ValidationError as exc:
        described = [_describe(err) for err in exc.errors(include_url=False)]
        reason = "; ".join(f"{path}: {message}" for path, message in described[:_MAX_ERRORS])
        if len(described) > _MAX_ERRORS:
            reason += f"; and {len(described) - _MAX_ERRORS} more"
        raise Rejected(
            ErrorClass.SCHEMA_VIOLATION,
            redact(f"{fmt.value} payload is invalid: {reason}"),
            field=described[0][0],
        ) from exc
    _semantic_checks(model)
    return model
