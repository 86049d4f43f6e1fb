"""Zendesk ticket events and generic tickets as normalized reports."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import NormalizedReport, ReportAction, ReporterKind, SourceFormat
from hypercare_domain.normalize import fingerprint_report, normalize

from tests.factories.policy import shipped_component_map
from tests.factories.raw import make_generic_ticket, make_zendesk

pytestmark = pytest.mark.unit

RECEIVED = datetime(2024, 5, 2, 10, 10, tzinfo=UTC)


def one(payload: dict[str, Any]) -> NormalizedReport:
    reports = normalize(
        "hypercare.raw.tickets",
        payload,
        received_at=RECEIVED,
        trace_id="t",
        components=shipped_component_map(),
    )
    assert len(reports) == 1
    return reports[0]


def _detail(**changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = make_zendesk()["detail"]
    detail.update(changes)
    return detail


def test_a_created_zendesk_ticket_is_a_new_report() -> None:
    report = one(make_zendesk())
    assert report.source_format is SourceFormat.ZENDESK
    assert report.action is ReportAction.REPORT
    assert report.event_id == "zendesk:01HXZ0EVENT0000000000000001"
    assert report.source_ref == "zendesk:4711"
    assert report.title == "Can't complete checkout"
    assert report.component == "checkout"
    assert report.reporter.kind is ReporterKind.CUSTOMER
    assert report.reporter.tier == "enterprise"
    assert report.reporter.id == "90001"
    assert report.signals.source_priority == "high"
    assert report.signals.category == "incident"
    assert report.signals.status == "new"
    assert report.language == "en"
    assert report.references["ticket_id"] == "4711"
    assert report.occurred_at == datetime(2024, 5, 2, 10, 5, 1, tzinfo=UTC)
    assert report.fingerprint == fingerprint_report("checkout", "checkout fails")


@pytest.mark.parametrize(
    ("event_type", "event", "status", "action"),
    [
        ("ticket.created", {}, "new", ReportAction.REPORT),
        ("ticket.priority_changed", {"current": "urgent", "previous": "high"}, "open", ReportAction.UPDATE),
        ("ticket.comment_added", {}, "open", ReportAction.UPDATE),
        ("ticket.status_changed", {"current": "solved", "previous": "open"}, "solved", ReportAction.RESOLVE),
        (
            "ticket.status_changed",
            {"current": "closed", "previous": "solved"},
            "closed",
            ReportAction.RESOLVE,
        ),
        (
            "ticket.status_changed",
            {"current": "pending", "previous": "open"},
            "pending",
            ReportAction.PENDING,
        ),
        ("ticket.status_changed", {"current": "hold", "previous": "open"}, "hold", ReportAction.PENDING),
        ("ticket.status_changed", {"current": "open", "previous": "pending"}, "open", ReportAction.RESUMED),
        ("ticket.status_changed", {"current": "open", "previous": "hold"}, "open", ReportAction.RESUMED),
        ("ticket.status_changed", {"current": "open", "previous": "new"}, "open", ReportAction.UPDATE),
        ("ticket.status_changed", {}, "solved", ReportAction.RESOLVE),
        ("ticket.merged", {}, "closed", ReportAction.UPDATE),
    ],
)
def test_zendesk_events_map_to_report_actions(
    event_type: str, event: dict[str, Any], status: str, action: ReportAction
) -> None:
    report = one(
        make_zendesk(type=f"zen:event-type:{event_type}", event=event, detail=_detail(status=status))
    )
    assert report.action is action
    assert report.source_ref == "zendesk:4711"


def test_an_update_event_names_the_known_ticket_and_has_its_own_event_id() -> None:
    created = one(make_zendesk())
    update = one(
        make_zendesk(
            type="zen:event-type:ticket.priority_changed",
            id="01HXZ0EVENT0000000000000002",
            event={"current": "urgent", "previous": "high"},
            detail=_detail(priority="urgent"),
        )
    )
    assert update.source_ref == created.source_ref
    assert update.event_id != created.event_id
    assert update.signals.source_priority == "urgent"
    assert update.fingerprint == created.fingerprint


@pytest.mark.parametrize(
    ("tags", "tier"),
    [
        (["enterprise"], "enterprise"),
        (["vip", "tier_pro"], "pro"),
        (["plan:free", "enterprise_customer"], "enterprise"),
        (["checkout", "mobile"], None),
        ([], None),
    ],
)
def test_customer_tier_comes_from_zendesk_tags(tags: list[str], tier: str | None) -> None:
    assert one(make_zendesk(detail=_detail(tags=tags))).reporter.tier == tier


def test_a_requester_id_that_is_an_email_is_pseudonymised() -> None:
    report = one(make_zendesk(detail=_detail(requester_id="Jane.Doe@Example.com")))
    assert report.reporter.id is not None
    assert len(report.reporter.id) == 16
    assert "@" not in report.reporter.id
    assert (
        report.reporter.id
        == one(make_zendesk(detail=_detail(requester_id="jane.doe@example.com"))).reporter.id
    )


def test_zendesk_text_is_redacted() -> None:
    description = "Card 4111 1111 1111 1111 was charged, order 4111111111111112, call +49 30 1234567"
    report = one(make_zendesk(detail=_detail(description=description)))
    assert report.text == "Card [card] was charged, order 4111111111111112, call [phone]"


def test_a_zendesk_ticket_without_subject_gets_a_title() -> None:
    report = one(make_zendesk(detail=_detail(subject=None, description=None)))
    assert report.title == "Zendesk ticket 4711"
    assert report.text == ""


def test_a_generic_ticket_becomes_a_report_without_the_requester_email() -> None:
    report = one(make_generic_ticket())
    assert report.source_format is SourceFormat.GENERIC_TICKET
    assert report.action is ReportAction.REPORT
    assert report.event_id == "generic_ticket:T-1001:open"
    assert report.source_ref == "generic_ticket:T-1001"
    assert report.component == "checkout"
    assert report.reporter.tier == "pro"
    assert report.reporter.id == "cust-77"
    assert report.signals.source_priority == "high"
    assert [link.href for link in report.links] == ["https://desk.example.com/tickets/T-1001"]
    assert "jane@example.com" not in report.model_dump_json()


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("new", ReportAction.REPORT),
        ("open", ReportAction.REPORT),
        ("Solved", ReportAction.RESOLVE),
        ("closed", ReportAction.RESOLVE),
    ],
)
def test_generic_ticket_status_decides_the_action(status: str, action: ReportAction) -> None:
    report = one(make_generic_ticket(status=status))
    assert report.action is action
    assert report.event_id == f"generic_ticket:T-1001:{status.lower()}"


def test_product_area_wins_over_keywords_in_the_text() -> None:
    report = one(make_generic_ticket(product_area="payments", subject="Checkout fails"))
    assert report.component == "payments"


def test_a_long_ticket_id_is_hashed_in_ids_but_kept_in_references() -> None:
    ticket_id = "desk/" + "x" * 200
    report = one(make_generic_ticket(id=ticket_id))
    assert len(report.source_ref) == len("generic_ticket:") + 24
    assert report.references["ticket_id"] == ticket_id
