"""Reports from support desk tickets: Zendesk ticket events and generic tickets."""

import re
from collections.abc import Sequence

from hypercare_contracts import NormalizedReport, ReportAction, Reporter, ReporterKind, Source
from hypercare_contracts.common import SourceFormat
from hypercare_contracts.normalized import Tier
from hypercare_contracts.raw import GenericTicket, ZendeskTicketEvent

from hypercare_domain.normalize.context import BuildContext, as_utc, extra_labels, shared_signals
from hypercare_domain.normalize.fingerprint import fingerprint_report
from hypercare_domain.normalize.text import (
    clean_labels,
    clean_text,
    clean_title,
    guess_language,
    id_part,
    links_of,
    pseudonym,
    reference_value,
)
from hypercare_domain.sentiment import sentiment

_CLOSED = frozenset({"solved", "closed"})
_WAITING = frozenset({"pending", "hold"})
_TIERS: tuple[Tier, ...] = ("enterprise", "pro", "free")
_TAG_SPLIT = re.compile(r"[_:\-]")
_STATUS_MAX = 64


def tier_from_tags(tags: Sequence[str]) -> Tier | None:
    """The customer tier a ticket's tags name (``enterprise``, ``tier_pro``, ``plan:free``), highest first."""
    tokens = {token for tag in tags for token in _TAG_SPLIT.split(tag.lower())}
    for tier in _TIERS:
        if tier in tokens:
            return tier
    return None


def zendesk_action(event: ZendeskTicketEvent) -> ReportAction:
    """What a Zendesk ticket event asks of its issue.

    ``ticket.created`` is a new report. A status change to solved/closed resolves, to pending/hold
    pauses (``pending``), and back to open or new from pending/hold resumes. Any other event updates.
    """
    kind = event.type.removeprefix("zen:event-type:")
    if kind == "ticket.created":
        return ReportAction.REPORT
    if kind != "ticket.status_changed":
        return ReportAction.UPDATE
    current = event.event.get("current", event.detail.status)
    previous = event.event.get("previous")
    if not isinstance(current, str):
        return ReportAction.UPDATE
    current = current.lower()
    if current in _CLOSED:
        return ReportAction.RESOLVE
    if current in _WAITING:
        return ReportAction.PENDING
    if current in {"open", "new"} and isinstance(previous, str) and previous.lower() in _WAITING:
        return ReportAction.RESUMED
    return ReportAction.UPDATE


def zendesk_reports(event: ZendeskTicketEvent, ctx: BuildContext) -> list[NormalizedReport]:
    """The report of one Zendesk ticket event; updates name the ticket by ``detail.id``."""
    detail = event.detail
    title = clean_title(detail.subject or "", f"Zendesk ticket {detail.id}")
    text = clean_text(detail.description or "")
    summary = f"{title}\n{text}"
    component = ctx.components.resolve(
        labels={}, product_area=None, screen=None, text=summary, tags=detail.tags
    )
    labels = {"zendesk.event": event.type.removeprefix("zen:event-type:")}
    if detail.tags:
        labels["tags"] = ",".join(detail.tags)
    if detail.via and detail.via.channel:
        labels["channel"] = detail.via.channel
    references = {"ticket_id": reference_value(detail.id), "zendesk_event_id": reference_value(event.id)}
    if event.account_id is not None:
        references["account_id"] = reference_value(str(event.account_id))
    return [
        NormalizedReport(
            event_id=f"zendesk:{id_part(event.id)}",
            source=Source.TICKETS,
            source_format=SourceFormat.ZENDESK,
            source_ref=f"zendesk:{id_part(detail.id)}",
            action=zendesk_action(event),
            received_at=ctx.received_at,
            occurred_at=as_utc(event.time),
            title=title,
            text=text,
            component=component,
            reporter=Reporter(
                id=pseudonym(detail.requester_id),
                kind=ReporterKind.CUSTOMER,
                tier=tier_from_tags(detail.tags),
            ),
            signals=shared_signals(
                source_priority=detail.priority, status=detail.status, category=detail.type
            ),
            sentiment=sentiment(summary),
            language=guess_language(summary),
            labels=clean_labels({**extra_labels(event), **extra_labels(detail), **labels}),
            fingerprint=fingerprint_report(component, summary),
            references=references,
            trace_id=ctx.trace_id,
        )
    ]


def generic_ticket_reports(ticket: GenericTicket, ctx: BuildContext) -> list[NormalizedReport]:
    """The report of one generic ticket; a solved or closed status resolves its issue."""
    title = clean_title(ticket.subject, f"Ticket {ticket.id}")
    text = clean_text(ticket.body)
    summary = f"{title}\n{text}"
    component = ctx.components.resolve(
        labels={}, product_area=ticket.product_area, screen=None, text=summary, tags=ticket.tags
    )
    status = ticket.status.strip().lower()[:_STATUS_MAX]
    labels = {"product_area": ticket.product_area or "", "tags": ",".join(ticket.tags)}
    return [
        NormalizedReport(
            event_id=f"generic_ticket:{id_part(ticket.id)}:{id_part(status or 'none')}",
            source=Source.TICKETS,
            source_format=SourceFormat.GENERIC_TICKET,
            source_ref=f"generic_ticket:{id_part(ticket.id)}",
            action=ReportAction.RESOLVE if status in _CLOSED else ReportAction.REPORT,
            received_at=ctx.received_at,
            occurred_at=as_utc(ticket.created_at),
            title=title,
            text=text,
            component=component,
            reporter=Reporter(
                id=pseudonym(ticket.requester.id), kind=ReporterKind.CUSTOMER, tier=ticket.requester.tier
            ),
            signals=shared_signals(source_priority=ticket.priority, status=status or None),
            sentiment=sentiment(summary),
            language=guess_language(summary),
            links=links_of([(ticket.url, "Ticket")]),
            labels=clean_labels(
                {**extra_labels(ticket), **{key: value for key, value in labels.items() if value}}
            ),
            fingerprint=fingerprint_report(component, summary),
            references={"ticket_id": ticket.id},
            trace_id=ctx.trace_id,
        )
    ]
