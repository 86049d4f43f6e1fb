"""The whole normalization step: a raw message in, the reports it contains out."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hypercare_contracts import NormalizedReport, SourceFormat
from hypercare_contracts.raw import (
    AlertmanagerWebhook,
    GenericTicket,
    GrafanaWebhook,
    InAppFeedback,
    PagerDutyEvent,
    SocialMention,
    ZendeskTicketEvent,
)

from hypercare_domain.normalize.alerts import pagerduty_reports, webhook_reports
from hypercare_domain.normalize.components import ComponentMap
from hypercare_domain.normalize.context import BuildContext
from hypercare_domain.normalize.detect import detect_format, parse_raw
from hypercare_domain.normalize.feedback import feedback_reports
from hypercare_domain.normalize.guard import InputLimits, decode_payload
from hypercare_domain.normalize.social import social_reports
from hypercare_domain.normalize.tickets import generic_ticket_reports, zendesk_reports


def normalize(
    topic: str,
    payload: Mapping[str, Any],
    *,
    received_at: datetime,
    trace_id: str,
    components: ComponentMap,
) -> list[NormalizedReport]:
    """Turn one decoded raw message into normalized, redacted reports.

    An Alertmanager or Grafana message with N alerts gives N reports; every other format gives one.
    The result depends only on the arguments: the same message gives the same reports.

    Args:
        topic: the raw topic the message came from (or the bare source name).
        payload: the decoded JSON object.
        received_at: when the message entered the system (aware datetime).
        trace_id: the trace id carried on every report.
        components: the component map.

    Returns:
        The reports, in the order of the message's items.

    Raises:
        Rejected: unknown topic or format, unsupported version, or a schema violation.
    """
    fmt = detect_format(topic, payload)
    model = parse_raw(fmt, payload)
    ctx = BuildContext(received_at=received_at, trace_id=trace_id, components=components)
    # The builders of human reports score the sentiment of their (redacted) title and text themselves,
    # so a report is built once instead of built and copied; monitors are not scored.
    return _reports(fmt, model, payload, ctx)


def _reports(
    fmt: SourceFormat, model: Any, payload: Mapping[str, Any], ctx: BuildContext
) -> list[NormalizedReport]:
    if isinstance(model, AlertmanagerWebhook | GrafanaWebhook):
        return webhook_reports(fmt, model, ctx)
    if isinstance(model, PagerDutyEvent):
        return pagerduty_reports(model, payload, ctx)
    if isinstance(model, ZendeskTicketEvent):
        return zendesk_reports(model, ctx)
    if isinstance(model, GenericTicket):
        return generic_ticket_reports(model, ctx)
    if isinstance(model, InAppFeedback):
        return feedback_reports(model, ctx)
    if isinstance(model, SocialMention):
        return social_reports(model, ctx)
    raise AssertionError(f"no report builder for format {SourceFormat(fmt).value}")  # pragma: no cover


def normalize_bytes(
    topic: str,
    raw: bytes,
    *,
    received_at: datetime,
    trace_id: str,
    components: ComponentMap,
    limits: InputLimits = InputLimits(),  # noqa: B008 - frozen dataclass, safe as a default
) -> list[NormalizedReport]:
    """Decode a raw message body and normalize it (see :func:`normalize`).

    Raises:
        Rejected: everything :func:`decode_payload` and :func:`normalize` reject.
    """
    payload = decode_payload(raw, limits)
    return normalize(topic, payload, received_at=received_at, trace_id=trace_id, components=components)
