"""Format detection and contract validation: every refusal names its class, problem and field."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import ErrorClass, SourceFormat
from hypercare_domain.normalize import Rejected, detect_format, normalize, normalize_bytes

from tests.factories.policy import shipped_component_map
from tests.factories.raw import (
    make_alertmanager,
    make_am_alert,
    make_feedback,
    make_generic_ticket,
    make_grafana,
    make_pagerduty,
    make_social,
    make_zendesk,
)

pytestmark = pytest.mark.unit

RECEIVED = datetime(2024, 5, 2, 10, 10, tzinfo=UTC)


def _without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


def _normalize(topic: str, payload: dict[str, Any]) -> None:
    normalize(topic, payload, received_at=RECEIVED, trace_id="t", components=shipped_component_map())


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("hypercare.raw.alerts", make_alertmanager(), SourceFormat.ALERTMANAGER),
        ("hypercare.raw.alerts", make_grafana(), SourceFormat.GRAFANA),
        ("hypercare.raw.alerts", make_pagerduty(), SourceFormat.PAGERDUTY),
        ("hypercare.raw.tickets", make_zendesk(), SourceFormat.ZENDESK),
        ("hypercare.raw.tickets", make_generic_ticket(), SourceFormat.GENERIC_TICKET),
        ("hypercare.raw.feedback", make_feedback(), SourceFormat.FEEDBACK),
        ("hypercare.raw.social", make_social(), SourceFormat.SOCIAL),
        ("alerts", make_alertmanager(), SourceFormat.ALERTMANAGER),
        ("alerts", _without(make_grafana(), "version"), SourceFormat.GRAFANA),
    ],
)
def test_formats_are_told_apart_by_shape(topic: str, payload: dict[str, Any], expected: SourceFormat) -> None:
    assert detect_format(topic, payload) is expected


@pytest.mark.parametrize(
    ("topic", "payload", "error_class", "field", "in_reason"),
    [
        pytest.param(
            "hypercare.raw.alerts",
            {"host": "db1", "message": "disk full"},
            ErrorClass.UNKNOWN_FORMAT,
            None,
            "keys seen: host, message",
            id="unknown-alert-format",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_alertmanager(version="3"),
            ErrorClass.UNSUPPORTED_VERSION,
            "version",
            "'3'",
            id="alertmanager-v3",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            _without(make_alertmanager(), "version"),
            ErrorClass.UNSUPPORTED_VERSION,
            "version",
            'no "version"',
            id="alerts-without-version",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            {"service_key": "k", "event_type": "trigger", "description": "x"},
            ErrorClass.UNSUPPORTED_VERSION,
            None,
            "Events API v1",
            id="pagerduty-v1",
        ),
        pytest.param(
            "hypercare.raw.tickets",
            make_zendesk(type="zen:event-type:user.created"),
            ErrorClass.UNKNOWN_FORMAT,
            "type",
            "not a ticket event",
            id="zendesk-user-event",
        ),
        pytest.param(
            "hypercare.raw.tickets",
            {"ticket_number": 5, "title": "x"},
            ErrorClass.UNKNOWN_FORMAT,
            None,
            "keys seen: ticket_number, title",
            id="unknown-ticket-format",
        ),
        pytest.param(
            "hypercare.raw.metrics",
            make_alertmanager(),
            ErrorClass.UNKNOWN_TOPIC,
            None,
            "hypercare.raw.metrics",
            id="unknown-topic",
        ),
    ],
)
def test_unknown_shapes_and_versions_are_rejected(
    topic: str, payload: dict[str, Any], error_class: ErrorClass, field: str | None, in_reason: str
) -> None:
    with pytest.raises(Rejected) as caught:
        _normalize(topic, payload)
    assert caught.value.error_class is error_class
    assert caught.value.field == field
    assert in_reason in caught.value.reason


_ALERT_WITHOUT_LABELS = _without(make_am_alert(), "labels")


@pytest.mark.parametrize(
    ("topic", "payload", "field", "in_reason"),
    [
        pytest.param(
            "hypercare.raw.alerts",
            make_alertmanager(alerts=[make_am_alert(), _ALERT_WITHOUT_LABELS]),
            "alerts.1.labels",
            "alerts.1.labels: field required",
            id="alert-missing-labels",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_alertmanager(alerts=[make_am_alert(startsAt="2024-05-02T09:58:00")]),
            "alerts.0.startsAt",
            "timezone",
            id="naive-timestamp",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_alertmanager(alerts=[make_am_alert(status="pending")]),
            "alerts.0.status",
            "'pending'",
            id="alert-status",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            _without(make_grafana(), "version"),
            "version",
            "version: field required",
            id="grafana-without-version",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_alertmanager(alerts=[]),
            "alerts",
            "at least 1 item",
            id="no-alerts",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_pagerduty(payload=None),
            "payload",
            "trigger",
            id="pd-trigger-without-payload",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            {"routing_key": "R", "event_action": "resolve"},
            "dedup_key",
            "dedup_key: field required",
            id="pd-resolve-without-key",
        ),
        pytest.param(
            "hypercare.raw.alerts",
            make_pagerduty(event_action="escalate"),
            "event_action",
            "'escalate'",
            id="pd-unknown-action",
        ),
        pytest.param(
            "hypercare.raw.tickets",
            _without(make_zendesk(), "detail"),
            "detail",
            "detail: field required",
            id="zendesk-missing-detail",
        ),
        pytest.param(
            "hypercare.raw.tickets",
            make_zendesk(type="zen:event-type:ticket.Merged Into"),
            "type",
            "pattern",
            id="zendesk-unknown-ticket-type-shape",
        ),
        pytest.param(
            "hypercare.raw.tickets",
            _without(make_generic_ticket(), "requester"),
            "requester",
            "requester: field required",
            id="ticket-missing-requester",
        ),
        pytest.param(
            "hypercare.raw.feedback",
            make_feedback(rating="five"),
            "rating",
            "'five'",
            id="rating-mistyped",
        ),
        pytest.param(
            "hypercare.raw.feedback",
            make_feedback(rating=9),
            "rating",
            "less than or equal to 5",
            id="rating-out-of-range",
        ),
        pytest.param(
            "hypercare.raw.feedback",
            make_feedback(category="complaint"),
            "category",
            "'complaint'",
            id="feedback-category",
        ),
        pytest.param(
            "hypercare.raw.social",
            make_social(author={"handle": "a", "followers": -5}),
            "author.followers",
            "greater than or equal to 0",
            id="negative-followers",
        ),
    ],
)
def test_schema_violations_name_the_field(
    topic: str, payload: dict[str, Any], field: str, in_reason: str
) -> None:
    with pytest.raises(Rejected) as caught:
        _normalize(topic, payload)
    assert caught.value.error_class is ErrorClass.SCHEMA_VIOLATION
    assert caught.value.field == field
    assert in_reason in caught.value.reason


def test_rejection_reasons_do_not_repeat_personal_data() -> None:
    with pytest.raises(Rejected) as caught:
        _normalize("hypercare.raw.feedback", make_feedback(rating="jane@example.com"))
    assert "jane@example.com" not in caught.value.reason
    assert "[email]" in caught.value.reason


def test_unknown_extra_fields_are_tolerated() -> None:
    payload = make_feedback(sdk={"name": "widget", "version": "2"}, campaign="spring")
    _normalize("hypercare.raw.feedback", payload)


def test_normalize_bytes_decodes_then_normalizes() -> None:
    reports = normalize_bytes(
        "hypercare.raw.feedback",
        b'{"id": "f1", "created_at": "2024-05-02T10:00:00Z", "user": {"id": "u1"},'
        b' "category": "bug", "text": "Search is slow"}',
        received_at=RECEIVED,
        trace_id="t",
        components=shipped_component_map(),
    )
    assert [r.component for r in reports] == ["search"]
    with pytest.raises(Rejected) as caught:
        normalize_bytes(
            "hypercare.raw.feedback",
            b"[]",
            received_at=RECEIVED,
            trace_id="t",
            components=shipped_component_map(),
        )
    assert caught.value.error_class is ErrorClass.NOT_AN_OBJECT
