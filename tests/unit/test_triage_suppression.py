"""Suppression: one-off windows, recurring windows across DST, silences, and release."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import Decision, ReportAction, Source
from hypercare_domain.triage import SuppressionPolicy, active_suppression, release_expired

from tests.unit.triage_factories import at, make_alert, make_report, run, shipped_policies, with_suppression

pytestmark = pytest.mark.unit

POLICY = SuppressionPolicy.model_validate(
    {
        "maintenance_windows": [
            {
                "name": "db-migration",
                "start": "2025-06-04T12:00:00+00:00",
                "end": "2025-06-04T13:00:00+00:00",
                "match": {"components": ["payments*", "checkout"]},
            },
        ],
        "recurring_windows": [
            {
                "name": "weekly-deploy",
                "weekdays": ["tue"],
                "start": "10:00",
                "duration_minutes": 30,
                "timezone": "Europe/Berlin",
                "match": {"sources": ["alerts"]},
            },
            {
                "name": "saturday-night",
                "weekdays": ["sat"],
                "start": "23:00",
                "duration_minutes": 120,
                "timezone": "America/New_York",
                "match": {"environments": ["staging"]},
            },
        ],
        "silences": [
            {
                "name": "noisy-search",
                "match": {"components": ["search"], "labels": {"alertname": "SearchSlow"}},
                "expires_at": "2025-06-10T00:00:00+00:00",
            },
        ],
    }
)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("component", "source", "labels", "environment", "when", "expected"),
    [
        ("checkout", Source.TICKETS, {}, "production", "2025-06-04T12:00", "db-migration"),
        ("payments-api", Source.ALERTS, {}, "production", "2025-06-04T12:59", "db-migration"),
        ("checkout", Source.TICKETS, {}, "production", "2025-06-04T13:00", None),
        ("login", Source.TICKETS, {}, "production", "2025-06-04T12:30", None),
        # Berlin is UTC+1 before 2025-03-30 and UTC+2 after: 10:00 local moves from 09:00 to 08:00 UTC.
        ("login", Source.ALERTS, {}, "production", "2025-03-25T09:15", "weekly-deploy"),
        ("login", Source.ALERTS, {}, "production", "2025-03-25T08:15", None),
        ("login", Source.ALERTS, {}, "production", "2025-04-01T08:15", "weekly-deploy"),
        ("login", Source.ALERTS, {}, "production", "2025-04-01T09:15", None),
        ("login", Source.ALERTS, {}, "production", "2025-10-28T09:15", "weekly-deploy"),
        ("login", Source.ALERTS, {}, "production", "2025-04-02T08:15", None),
        ("login", Source.TICKETS, {}, "production", "2025-04-01T08:15", None),
        # Saturday 23:00 New York (EDT, UTC-4) for two hours runs into Sunday.
        ("x", Source.TICKETS, {}, "staging", "2025-06-08T04:30", "saturday-night"),
        ("x", Source.TICKETS, {}, "staging", "2025-06-08T05:00", None),
        ("x", Source.TICKETS, {}, "production", "2025-06-08T04:30", None),
        (
            "search",
            Source.ALERTS,
            {"alertname": "SearchSlow", "pod": "a"},
            "production",
            "2025-06-05T00:00",
            "noisy-search",
        ),
        ("search", Source.ALERTS, {"alertname": "SearchDown"}, "production", "2025-06-05T00:00", None),
        ("search", Source.ALERTS, {"alertname": "SearchSlow"}, "production", "2025-06-10T00:00", None),
    ],
)
def test_active_suppression(
    component: str, source: Source, labels: dict[str, str], environment: str, when: str, expected: str | None
) -> None:
    assert active_suppression(component, source, labels, environment, _utc(when), POLICY) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"silences": [{"name": "all", "match": {}}]}, "empty matcher"),
        (
            {
                "recurring_windows": [
                    {
                        "name": "r",
                        "weekdays": ["tue"],
                        "start": 600,
                        "duration_minutes": 5,
                        "timezone": "Europe/Berlin",
                    }
                ]
            },
            "quoted",
        ),
        (
            {
                "recurring_windows": [
                    {
                        "name": "r",
                        "weekdays": ["tue"],
                        "start": "10:00",
                        "duration_minutes": 5,
                        "timezone": "Mars/Olympus",
                    }
                ]
            },
            "unknown IANA time zone",
        ),
        (
            {
                "maintenance_windows": [
                    {"name": "m", "start": "2025-06-04T13:00:00+00:00", "end": "2025-06-04T12:00:00+00:00"}
                ]
            },
            "end must be after start",
        ),
        (
            {
                "maintenance_windows": [
                    {"name": "m", "start": "2025-06-04T12:00:00", "end": "2025-06-04T13:00:00+00:00"}
                ]
            },
            "timezone",
        ),
    ],
)
def test_invalid_suppression_is_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SuppressionPolicy.model_validate(data)


def test_shipped_deploy_slot_covers_alerts_only() -> None:
    policy = shipped_policies().suppression
    tuesday_deploy = _utc("2025-06-03T08:10")

    assert active_suppression("checkout", Source.ALERTS, {}, "production", tuesday_deploy, policy) == (
        "weekly-deploy-slot"
    )
    assert active_suppression("checkout", Source.TICKETS, {}, "production", tuesday_deploy, policy) is None


def test_issue_created_in_a_window_is_suppressed_stored_and_released_after() -> None:
    policies = with_suppression(POLICY.model_dump(mode="json"))
    during = [make_report(fingerprint="sup", minutes=m) for m in (0, 10, 20)]

    decisions, store = run(during, policies)
    (issue,) = store.all()
    too_early = release_expired(store.all(), policies, at(59))
    released = release_expired(store.all(), policies, at(60))

    # the first report and the second reporter are milestones; the third reporter is not
    assert [(d.decision, d.notify, d.suppressed_by, d.occurrences) for d in decisions] == [
        (Decision.SUPPRESSED, False, "db-migration", 1),
        (Decision.SUPPRESSED, False, "db-migration", 2),
    ]
    assert issue.occurrences == 3
    assert issue.suppressed_by == "db-migration"
    assert too_early == []
    (step,) = released
    assert step.decision is not None
    assert (step.decision.decision, step.decision.notify, step.decision.suppressed_by) == (
        Decision.RELEASED,
        True,
        None,
    )
    assert step.decision.occurrences == 3
    assert step.state is not None
    assert step.state.suppressed_by is None


def test_report_after_the_window_releases_without_waiting_for_the_timer() -> None:
    policies = with_suppression(POLICY.model_dump(mode="json"))
    reports = [make_report(fingerprint="sup2", minutes=0), make_report(fingerprint="sup2", minutes=61)]

    decisions, _ = run(reports, policies)

    assert [(d.decision, d.notify) for d in decisions] == [
        (Decision.SUPPRESSED, False),
        (Decision.RELEASED, True),
    ]


def test_resolved_during_window_is_not_released_and_does_not_notify() -> None:
    policies = with_suppression(POLICY.model_dump(mode="json"))
    alert = make_alert(component="checkout", source_ref="am:sup")
    resolve = make_alert(component="checkout", source_ref="am:sup", action=ReportAction.RESOLVE, minutes=5)

    decisions, store = run([alert, resolve], policies)

    assert [(d.decision, d.notify) for d in decisions] == [
        (Decision.SUPPRESSED, False),
        (Decision.RESOLVED, False),
    ]
    assert release_expired(store.all(), policies, at(120)) == []
